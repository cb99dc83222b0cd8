"""Printing paired comparisons (llmrec.reporting.compare): one table per task, or one JSON document."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmrec.records import METRICS_FILE

if TYPE_CHECKING:
    from llmrec.reporting.compare import MetricComparison, TaskComparison


def print_comparisons(comparisons: list[TaskComparison], format: str = "table") -> None:
    """One table per task on stdout (a wide console when stdout is no terminal), or one JSON document."""
    if format == "json":
        print(json.dumps([c.to_json() for c in comparisons], indent=2))
        return
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # a log or a pipe: no terminal width to respect, never squeeze numbers
        console = Console(width=200)
    for c in comparisons:
        for line in header_lines(c):
            console.print(line, highlight=False, markup=False)
        console.print(_table(c))
        for line in footer_lines(c):
            console.print(line, highlight=False, markup=False)
        console.print()


def header_lines(c: TaskComparison) -> list[str]:
    left_out = ("every sample of each run is in both" if not (c.only_a or c.only_b)
                else f"left out: {c.only_a} only in A, {c.only_b} only in B")
    if c.settings:
        width = max(len(k) for k, *_ in c.settings)
        settings = ["settings that differ:"] + [f"  {k:{width}}  A {shown(a)}, B {shown(b)}" for k, a, b in c.settings]
    else:
        settings = ["same settings in both runs: the models are what differs"]
    return [f"A = {c.model_a} ({_folder(c.run_a)})", f"B = {c.model_b} ({_folder(c.run_b)})",
            f"{c.task} · {c.dataset} · {c.n_shared} shared samples ({left_out}); "
            f"A and B score differently on {c.n_differing} of them", *settings]


def _folder(metrics_path: str) -> str:
    path = Path(metrics_path)
    return str(path.parent) if path.name == METRICS_FILE else str(path)


def shown_metrics(c: TaskComparison) -> list[MetricComparison]:
    """The rows worth reading, as bench's tables choose them: two classic models give no invalid answers
    (their rates are 0 on both sides), and the strict view differs from the refined one only for
    generated answers."""
    both_classic = all(s == "classic" for s in c.scoring)
    generated = any(s == "generate" for s in c.scoring)
    return [m for m in c.metrics if not (both_classic and m.metric.endswith("_rate"))
            and (generated or not m.metric.startswith("strict_"))]


def _table(c: TaskComparison):
    from rich.table import Table

    table = Table(title_justify="left")
    for name, justify in (("metric", "left"), ("A", "right"), ("B", "right"), ("A−B", "right"),
                          ("95% CI of A−B", "right"), ("p", "right"), ("verdict", "left")):
        table.add_column(name, justify=justify, no_wrap=True)
    for m in shown_metrics(c):
        table.add_row(m.metric + (" ↓" if m.lower_is_better else ""), _number(m.metric, m.a),
                      _number(m.metric, m.b), _number(m.metric, m.diff, sign=True),
                      "[" + ", ".join(_number(m.metric, x, sign=True) for x in m.ci) + "]" if math.isfinite(m.diff)
                      else "—", _p(m.p), m.verdict, style="bold" if m.better else None)
    return table


def footer_lines(c: TaskComparison) -> list[str]:
    swaps = (f"all 2^{c.n_differing} swaps of the samples they score differently on: exact"
             if any(m.p_exact for m in c.metrics) else f"{c.n_perm} random swaps")
    lines = [f"  A−B: A's value minus B's on the shared samples. 95% CI: paired bootstrap, {c.n_boot} resamples "
             f"of the shared samples (the same draws for A and B), seed {c.seed}.",
             f"  p: two-sided paired permutation test ({swaps} of A's and B's answers per sample).",
             "  verdict: 'A better' or 'B better' when the CI excludes 0, else 'no clear difference'; "
             "each metric is a separate test."]
    if any(m.lower_is_better for m in shown_metrics(c)):
        lines.insert(1, "  ↓ lower is better: there a negative A−B favours A.")
    coverage = next((m for m in c.metrics if m.metric == "coverage"), None)
    if coverage is not None and coverage.a != coverage.b:
        lines.append("  rmse and mae are over each run's parsed answers: with unequal coverage they are not over "
                     "the same samples.")
    if any((m.better is not None) != (m.p < 0.05) for m in shown_metrics(c) if math.isfinite(m.p)):
        lines.append("  where the CI and p disagree (a verdict with p >= 0.05, or none with p < 0.05), the difference "
                     f"is at the edge of what {c.n_shared} samples can tell.")
    return lines


def _number(metric: str, value: float, sign: bool = False) -> str:
    from llmrec.reporting.report import is_percent_scale

    if not math.isfinite(value):
        return "—"
    return f"{value:{'+' if sign else ''}.{2 if is_percent_scale(metric) else 4}f}"


def _p(p: float) -> str:
    if not math.isfinite(p):
        return "—"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def shown(value: Any) -> str:
    if value is None:
        return "none"
    text = str(value)
    return text[:12] + "…" if len(text) > 16 else text  # hashes: a prefix shows they differ
