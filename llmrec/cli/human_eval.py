"""`llmrec human-eval export|import`: blinded sheets for annotators, and the statistics of their answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from llmrec.cli.common import OUTPUT
from llmrec.errors import LLMRecError

app = typer.Typer(help="Human evaluation of generated text: blinded sheets out, annotations in.",
                  no_args_is_help=True)


@app.command("export")
def export(
    runs: list[Path] = typer.Argument(..., metavar="RUN...", help="Two or more run folders (or metrics.json files) "
                                      "on the same samples."),
    task: str = typer.Option("explanation", "--task", "-t", help="The text task to evaluate: explanation or review."),
    n: int = typer.Option(100, "--n", min=1, help="Items on the sheet, drawn from the samples every run holds."),
    seed: int = typer.Option(2023, help="Seed for drawing the items and shuffling the outputs of each item."),
    mode: str = typer.Option("score", help="score: 1-5 per output and criterion; rank: rank each item's outputs "
                             "(1 = best), the paper's protocol."),
    criteria: Optional[str] = typer.Option(None, help="Comma-separated criteria to score (default: the task's, "
                                           "as the judge's: explanation informativeness, persuasiveness, "
                                           "relevance, fluency; review faithfulness, conciseness, fluency)."),
    reference: bool = typer.Option(True, "--reference/--no-reference", help="Show the user's own words (the "
                                   "reference) with each item."),
    out: Path = typer.Option(..., "--out", "-o", rich_help_panel=OUTPUT, help="Folder for sheet.csv, form.html "
                             "and key.json (keep the key from the annotators)."),
):
    """Write a blinded sheet: sheet.csv, the same as one offline HTML form, and the key to unblind it."""
    from llmrec.humaneval import SHEET_TASKS, export_sheet

    if task not in SHEET_TASKS:
        raise LLMRecError(f"--task: {SHEET_TASKS.unknown(task)}")
    names = tuple(c.strip() for c in criteria.split(",") if c.strip()) if criteria else None
    if criteria is not None and not names:
        raise LLMRecError("--criteria: expected comma-separated names, got none")
    if names and mode == "rank":
        raise LLMRecError("--criteria: the rank mode ranks each item's outputs once, on the whole; drop --criteria "
                          "or use --mode score")
    if names and len(set(names)) < len(names):
        raise LLMRecError(f"--criteria: a name given twice in '{criteria}'")
    sheet, files = export_sheet(runs, task, n, seed, out, mode=mode, criteria=names, show_reference=reference)
    typer.echo(f"{len(sheet.items)} items from the {sheet.n_shared} {task} samples the {len(runs)} runs share, "
               f"{mode} mode", err=True)
    for name, path in files.items():
        typer.echo(f"{name}: {path}", err=True)


@app.command("import")
def import_(
    files: list[Path] = typer.Argument(..., metavar="FILES...", help="Filled sheets (CSV), from the form or a "
                                       "spreadsheet; one annotator per row's annotator column (else per file)."),
    key: Path = typer.Option(..., "--key", "-k", help="The sheet's key.json."),
    seed: int = typer.Option(2023, help="Seed for the bootstrap CIs."),
    format: str = typer.Option("table", "--format", "-f", rich_help_panel=OUTPUT, help="table or json."),
):
    """Per-system mean scores and ranks with 95% CIs, inter-annotator and judge-vs-human agreement."""
    from llmrec.humaneval import import_annotations
    from llmrec.humaneval.results import render_text

    if format not in ("table", "json"):
        raise LLMRecError(f"--format: expected table or json, got '{format}'")
    result = import_annotations(files, key, seed=seed)
    typer.echo(json.dumps(result.to_json(), indent=2) if format == "json" else render_text(result))
