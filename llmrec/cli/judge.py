"""`llmrec judge`: an LLM judges the generated text of recorded runs (pointwise scores or pairwise preferences)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from llmrec.cli.common import MODEL, OUTPUT, PROMPT, check_model_name
from llmrec.errors import LLMRecError

JUDGE = "Judging"


def judge(
    runs: list[Path] = typer.Argument(..., metavar="RUN [RUN ...]", help="Run folders (from `llmrec bench`) to "
                                      "judge; --mode pairwise takes two, A then B."),
    judge_model: str = typer.Option(..., "--judge-model", "-j", rich_help_panel=MODEL, help="The judge: an alias, "
                                    "Hugging Face id, local folder, or a model behind --base-url."),
    mode: str = typer.Option("pointwise", rich_help_panel=JUDGE, help="pointwise (a 1-5 score per criterion and "
                             "output) or pairwise (A vs B, asked in both orders)."),
    task: Optional[str] = typer.Option(None, "--task", "-t", rich_help_panel=JUDGE, help="Comma-separated tasks "
                                       "(default: every task of the runs that has a judge template)."),
    template: Optional[str] = typer.Option(None, rich_help_panel=PROMPT, help="Judge template under prompts/judge/ "
                                           "or a .yaml path (default: <task>-<mode>); one task only."),
    max_new_tokens: Optional[int] = typer.Option(None, min=1, rich_help_panel=PROMPT,
                                                 help="Override the judge template's generation limit."),
    temperature: float = typer.Option(0.0, min=0.0, rich_help_panel=PROMPT, help="The judge's; 0 = greedy."),
    seed: int = typer.Option(2023, rich_help_panel=PROMPT, help="The judge's sampling seed (temperature > 0)."),
    backend: str = typer.Option("auto", rich_help_panel=MODEL, help="auto, hf, vllm or openai."),
    base_url: Optional[str] = typer.Option(None, rich_help_panel=MODEL, help="OpenAI-compatible server URL "
                                           "(key from OPENAI_API_KEY)."),
    device: str = typer.Option("auto", rich_help_panel=MODEL, help="auto, cpu, cuda or cuda:N."),
    dtype: str = typer.Option("auto", rich_help_panel=MODEL, help="auto, float32, bfloat16 or float16."),
    batch_size: str = typer.Option("auto", rich_help_panel=MODEL, help="Generation batch size (hf), a number "
                                   "or auto."),
    concurrency: int = typer.Option(8, min=1, rich_help_panel=MODEL, help="Concurrent API requests (openai)."),
    timeout: float = typer.Option(60.0, rich_help_panel=MODEL, help="Seconds per API request (openai)."),
    max_retries: int = typer.Option(6, min=0, rich_help_panel=MODEL,
                                    help="Retries of a failed API request (openai)."),
    fresh: bool = typer.Option(False, rich_help_panel=OUTPUT, help="Judge again instead of resuming recorded "
                               "verdicts."),
):
    """Judge generated explanations or summaries with an LLM; verdicts are recorded in each run folder and resumed."""
    from llmrec.cli.bench import CHOICES, DEVICE
    from llmrec.judging import JudgeConfig, judge as run_judge

    for option, value in (("backend", backend), ("dtype", dtype)):
        if value not in CHOICES[option]:
            raise LLMRecError(f"--{option}: expected one of {', '.join(CHOICES[option])}, got '{value}'")
    if not DEVICE.fullmatch(device):
        raise LLMRecError(f"--device: expected auto, cpu, cuda or cuda:N, got '{device}'")
    if batch_size != "auto" and not (batch_size.isdigit() and int(batch_size) > 0):
        raise LLMRecError(f"--batch-size: expected a positive number or auto, got '{batch_size}'")
    if not timeout > 0:
        raise LLMRecError(f"--timeout: expected a positive number of seconds, got {timeout}")
    check_model_name(judge_model, base_url=base_url, backend=backend, classic_too=False)
    tasks = [t.strip() for t in task.split(",") if t.strip()] if task else None
    config = JudgeConfig(judge_model=judge_model, runs=list(runs), mode=mode, tasks=tasks, template=template,
                         backend=backend, base_url=base_url, device=device, dtype=dtype,
                         batch_size=int(batch_size) if batch_size.isdigit() else batch_size, concurrency=concurrency,
                         timeout=timeout, max_retries=max_retries, max_new_tokens=max_new_tokens,
                         temperature=temperature, seed=seed, fresh=fresh)
    for judgment, result in run_judge(config):
        print_judgment(result)
        typer.echo(f"judgment: {judgment.folder}", err=True)


def print_judgment(result: dict) -> None:
    """One table per task on stdout: each metric with its 95% CI, then the counts."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    runs = " vs ".join(f"{r['model']} ({r['run_id']})" for r in result["runs"])
    for task, entry in result["tasks"].items():
        console.print(f"[bold]{runs}[/bold] · {task} · {result['mode']} judge {result['judge']} · "
                      f"{entry['n_samples']} samples · template {entry['template']}", highlight=False)
        table = Table("metric", "value", "95% CI")
        for name, metric in entry["metrics"].items():
            value, (lo, hi) = metric["value"], metric["ci"]
            table.add_row(name, _number(value), f"[{_number(lo)}, {_number(hi)}]")
        console.print(table)
        counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in entry["counts"].items() if not isinstance(v, dict))
        console.print(f"  {counts}", highlight=False)
        console.print()


def _number(value) -> str:
    return "—" if value is None or value != value else f"{value:.4f}"
