"""The comparison tables `llmrec bench` prints after running several models: one table per task.

Rows are comparable only when their protocol agrees (same data, sample ids, candidates and metric
definitions, see llmrec.protocol). Rows are grouped by protocol; when a task has more than one group,
each row is labelled with its group and the best value is marked within a group only.
"""

from __future__ import annotations

import math

from llmrec.metrics import LOWER_IS_BETTER
from llmrec.protocol import protocol_of

HEADLINE = {
    "rating": ("rmse", "mae", "coverage"),
    "ranking": ("hr@1", "hr@5", "hr@10", "ndcg@10", "mrr", "strict_hr@10", "parse_failure_rate",
                "hallucination_rate"),
    "text": ("bleu-1", "bleu-4", "rouge-1", "rouge-l", "p5-rouge-1", "p5-rouge-l", "parse_failure_rate"),
}


def comparison_rows(runs: list[dict]) -> dict[str, list[tuple[str, dict, int]]]:
    """task -> [(row label, task entry, protocol group number)], rows in run order."""
    out: dict[str, list[tuple[str, dict, int]]] = {}
    for run in runs:
        label = run["model"] + (f" + {run['adapter']}" if run.get("adapter") else "")
        for task, entry in run["tasks"].items():
            out.setdefault(task, []).append((label, entry, 0))
    for task, rows in out.items():
        groups: dict[tuple, int] = {}
        out[task] = [(label, entry, groups.setdefault(protocol_of(entry), len(groups) + 1)) for label, entry, _ in rows]
    return out


def best_values(rows: list[tuple[str, dict, int]], metric: str) -> dict[int, float]:
    """Per protocol group, the best defined value of a metric; none where every row has the same value."""
    values: dict[int, list[float]] = {}
    for _, entry, group in rows:
        value = entry["metrics"].get(metric, {}).get("value")
        if value is not None and not math.isnan(value):
            values.setdefault(group, []).append(value)
    pick = min if metric in LOWER_IS_BETTER else max
    return {group: pick(vs) for group, vs in values.items() if len(set(vs)) > 1}


def print_comparison(runs: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    from llmrec.report import format_half_ci, format_value
    from llmrec.tasks import get_task

    console = Console()
    if not console.is_terminal:  # a log or a pipe: no terminal width to respect, never squeeze numbers
        console = Console(width=200)
    for task, rows in comparison_rows(runs).items():
        metrics = [m for m in HEADLINE[get_task(task).kind] if any(m in e["metrics"] for _, e, _ in rows)]
        grouped = len({g for *_, g in rows}) > 1
        first = rows[0][1]
        console.print(f"[bold]comparison · {task} · {first['dataset']} · {first['n_samples']} samples[/bold]"
                      + ("" if grouped else " · same sample ids for every row"), highlight=False)
        table = Table("model", *(["protocol"] if grouped else []), "n", *metrics, title_justify="left")
        best = {m: best_values(rows, m) for m in metrics}
        for label, entry, group in rows:
            cells = []
            for m in metrics:
                v = entry["metrics"].get(m)
                if v is None or v["value"] is None or math.isnan(v["value"]):
                    cells.append("—")
                    continue
                lo, hi = v["ci"]
                half = (hi - lo) / 2 if math.isfinite(lo) and math.isfinite(hi) else None
                text = f"{format_value(m, v['value'])} {format_half_ci(m, half)}".strip()
                # bold in a terminal; the star also survives a log file
                cells.append(f"[bold]{text} *[/bold]" if v["value"] == best[m].get(group) else text)
            table.add_row(label, *([str(group)] if grouped else []), str(entry["n_samples"]), *cells)
        console.print(table)
        if grouped:
            console.print("  rows with different protocol numbers were scored on different samples or protocols "
                          "and are not comparable; best values are marked within a protocol", highlight=False)
        console.print("  value ±half the 95% bootstrap CI; *: best among comparable rows", highlight=False)
        console.print()
