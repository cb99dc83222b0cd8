"""`llmrec report`, `check` and `compare`: read recorded runs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from llmrec.cli.common import OUTPUT
from llmrec.errors import LLMRecError


def report(
    results: list[Path] = typer.Argument(None, help="Run folders or metrics.json files (default: results/runs, or "
                                  "$LLMREC_HOME/results/runs)."),
    task: Optional[str] = typer.Option(None, "--task", "-t", help="Comma-separated tasks to show (default: all)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Comma-separated models to show, by recorded "
                                        "name or short label (default: all)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="Comma-separated datasets to show "
                                          "(default: all)."),
    format: str = typer.Option("md", "--format", "-f", rich_help_panel=OUTPUT,
                               help="md, html (with a per-sample drill-down), csv (every leaderboard: one row per "
                               "run x task x metric) or json (the same records)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", rich_help_panel=OUTPUT,
                                          help="Write to a file instead of stdout."),
):
    """Leaderboards per task and dataset from recorded runs, or their metrics as CSV or JSON records."""
    from llmrec.home import runs_dir
    from llmrec.reporting.report import FORMATS, load_runs, render_report
    from llmrec.reporting.select import select_runs, split_list

    if format not in FORMATS:
        raise LLMRecError(f"--format: {FORMATS.unknown(format)}")  # before reading any run
    runs = select_runs(load_runs(results or [runs_dir()]), split_list(task), split_list(model),
                       split_list(dataset))
    text = render_report(runs, format)
    if output:
        from llmrec.records import write_text

        write_text(output, text)
        typer.echo(f"report: {output}", err=True)
    else:
        typer.echo(text)


def check(
    baseline: Path = typer.Option(..., help="Baseline metrics JSON (committed under results/baselines/)."),
    current: Optional[Path] = typer.Option(None, help="Run folder or metrics.json (default: the latest run)."),
    tolerance: Optional[str] = typer.Option(None, help="Per-metric absolute tolerance: hr@10=0.02,rmse=0.05"),
    update: bool = typer.Option(False, help="Rewrite the baseline from the current run."),
):
    """Regression gate: exit 0 if no metric got worse than the baseline allows, 1 on regression, 2 on mismatch."""
    from llmrec.reporting.check import check as run_check, parse_tolerances

    raise typer.Exit(run_check(baseline, current, parse_tolerances(tolerance) if tolerance else None, update))


def compare(
    runs: list[Path] = typer.Argument(..., metavar="RUN_A RUN_B",
                                      help="Two runs, A then B: run folders or their metrics.json files."),
    task: Optional[str] = typer.Option(None, "--task", "-t", help="Comma-separated tasks (default: every task "
                                       "both runs hold)."),
    n_boot: int = typer.Option(2000, min=1, help="Paired bootstrap resamples for the 95% CI of A-B."),
    n_perm: int = typer.Option(10000, min=1, help="Random swaps for the permutation p-value (all of them, "
                               "exactly, when there are fewer)."),
    seed: int = typer.Option(2023, help="Seed for the bootstrap and the permutations."),
    format: str = typer.Option("table", "--format", "-f", rich_help_panel=OUTPUT, help="table or json."),
):
    """Paired comparison of two runs on their shared samples: A-B per metric, 95% CI, permutation p-value."""
    from llmrec.reporting.compare import compare_runs, print_comparisons

    if format not in ("table", "json"):
        raise LLMRecError(f"--format: expected table or json, got '{format}'")
    if len(runs) != 2:
        raise LLMRecError(f"expected two runs (A and B), got {len(runs)}: {' '.join(map(str, runs))}")
    tasks = [t.strip() for t in task.split(",") if t.strip()] if task else None
    print_comparisons(compare_runs(*runs, tasks, n_boot=n_boot, n_perm=n_perm, seed=seed), format)
