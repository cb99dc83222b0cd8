"""The regression gate: compare a run with a committed baseline and fail CI when a metric got worse.

A metric regresses when it moved to its bad side by more than a tolerance. Without an explicit
tolerance the move must also leave the baseline's bootstrap CI, so sampling noise alone does not
fail a build. Comparisons of different data, prompts or protocols are refused (exit 2), never passed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from llmrec.errors import LLMRecError
from llmrec.files import write_bytes
from llmrec.protocol import PROTOCOL_KEYS, SETTING_KEYS
from llmrec.reporting.report import (
    METRICS_FILE,
    is_percent_scale,
    load_run,
    lower_is_better,
)

PASS, REGRESSION, UNUSABLE = 0, 1, 2
# A gate compares a run with an earlier run of the same configuration: protocol and settings must agree.
GATE_KEYS = PROTOCOL_KEYS + SETTING_KEYS


def default_tolerance(metric: str) -> float:
    """Absolute slack when no tolerance is given: half a point on the x100 text metrics, 0.01 elsewhere."""
    return 0.5 if is_percent_scale(metric) else 0.01


def parse_tolerances(text: str) -> dict[str, float]:
    """'hr@10=0.02,rmse=0.05' -> {'hr@10': 0.02, 'rmse': 0.05}."""
    tolerances: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, number = part.partition("=")
        name = name.strip()
        try:
            value = float(number)
        except ValueError:
            value = math.nan
        if not sep or not name or not (math.isfinite(value) and value >= 0):
            raise LLMRecError(f"--tolerance: expected METRIC=NUMBER (non-negative), e.g. hr@10=0.02, got {part!r}")
        if name in tolerances:
            raise LLMRecError(f"--tolerance: {name} is given twice")
        tolerances[name] = value
    return tolerances


@dataclass
class Line:
    task: str
    metric: str
    baseline: str
    current: str
    delta: str
    verdict: str
    code: int  # PASS, REGRESSION or UNUSABLE


def compare(baseline: dict, current: dict, tolerances: dict[str, float]) -> list[Line]:
    """One line per baseline metric (or per protocol mismatch) of every baseline task."""
    lines: list[Line] = []
    for task, base in baseline["tasks"].items():
        cur = current["tasks"].get(task)
        if cur is None:
            lines.append(Line(task, "(task)", "present", "missing", "", "MISSING", UNUSABLE))
            continue
        mismatched = False
        for key in GATE_KEYS:
            b, c = base.get(key), cur.get(key)
            if b != c:
                mismatched = True
                lines.append(Line(task, key, _short(b), _short(c), "", "MISMATCH", UNUSABLE))
        if mismatched:
            continue  # numbers from different protocols say nothing about regressions
        for metric, b in base["metrics"].items():
            lines.append(_compare_metric(task, metric, b, cur["metrics"].get(metric), tolerances.get(metric)))
    return lines


def _short(value) -> str:
    if value is None:
        return "—"
    text = str(value)
    return text[:12] + "…" if len(text) > 16 else text  # hashes: a prefix is enough to see they differ


def _compare_metric(task: str, metric: str, base: dict, cur: dict | None, tolerance: float | None) -> Line:
    b = base.get("value")
    c = None if cur is None else cur.get("value")
    shown_b, shown_c = _plain(metric, b), _plain(metric, c)
    if cur is None:
        return Line(task, metric, shown_b, "missing", "", "MISSING", UNUSABLE)
    if b is None:  # undefined in the baseline (e.g. MAE when nothing parsed): nothing to regress from
        return Line(task, metric, shown_b, shown_c, "", "same" if c is None else "better", PASS)
    if c is None:  # defined before, undefined now: the run lost every answer this metric needs
        return Line(task, metric, shown_b, shown_c, "", "REGRESSION", REGRESSION)
    delta = c - b
    worse = delta if lower_is_better(metric) else -delta  # > 0 means the current run is worse
    if tolerance is not None:
        failed = worse > tolerance
    else:
        failed = worse > default_tolerance(metric) and _outside_ci_on_bad_side(metric, c, base.get("ci"))
    shown_delta = _plain(metric, delta, sign=True)
    if failed:
        verdict, code = "REGRESSION", REGRESSION
    elif worse < 0:
        verdict, code = "better", PASS
    elif worse == 0:
        verdict, code = "same", PASS
    else:
        verdict, code = "worse (ok)", PASS  # worse, but within the tolerance
    return Line(task, metric, shown_b, shown_c, shown_delta, verdict, code)


def _plain(metric: str, value: float | None, sign: bool = False) -> str:
    """Values in the units tolerances are given in (rates as fractions, not percentages)."""
    if value is None:
        return "—"
    return f"{value:{'+' if sign else ''}.{2 if is_percent_scale(metric) else 4}f}"


def _outside_ci_on_bad_side(metric: str, value: float, ci: list[float] | None) -> bool:
    if ci is None:
        return True  # no interval recorded: the absolute tolerance alone decides
    return value > ci[1] if lower_is_better(metric) else value < ci[0]


def find_current(baseline: dict | None, runs_dir: Path | None = None) -> Path:
    """The most recently written run of the baseline's model whose tasks (and datasets) cover the baseline's."""
    if runs_dir is None:
        from llmrec.home import runs_dir as default_runs

        runs_dir = default_runs()
    files = sorted(runs_dir.rglob(METRICS_FILE), key=lambda f: f.stat().st_mtime, reverse=True)
    if not files:
        raise LLMRecError(f"{runs_dir}: no runs found (run `llmrec bench` first, or pass --current)")
    if baseline is None:
        return files[0]
    wanted = {task: entry["dataset"] for task, entry in baseline["tasks"].items()}
    for file in files:
        try:
            run = load_run(file)
        except LLMRecError:
            continue  # an unreadable run cannot be shown to match; the gate compares a readable one
        if run.get("model") != baseline.get("model") or run.get("adapter") != baseline.get("adapter"):
            continue
        if all(task in run["tasks"] and run["tasks"][task]["dataset"] == ds for task, ds in wanted.items()):
            return file
    described = ", ".join(f"{t} on {d}" for t, d in wanted.items())
    raise LLMRecError(f"{runs_dir}: no run of {baseline.get('model')} covers the baseline's tasks ({described}); "
                      "pass --current")


def resolve_current(baseline: dict | None, current: Path | None) -> Path:
    """--current as given: a run folder or metrics.json; a folder of runs (or nothing) means its latest match."""
    if current is None:
        return find_current(baseline)
    current = Path(current)
    if current.is_dir() and not (current / METRICS_FILE).exists():
        return find_current(baseline, current)
    return current


def write_baseline(source: Path, baseline: Path, run: dict | None = None) -> None:
    """Copy a run's metrics.json to the baseline path atomically, so CI never sees half a file; a judged run
    is written as loaded, with its judge metrics (llmrec.judging.attach), so the gate covers them too."""
    if run is not None and run.get("judged"):
        import json

        kept = {k: v for k, v in run.items() if k not in ("path", "label_extra", "judged")}
        write_bytes(baseline, (json.dumps(kept, indent=2) + "\n").encode())
        return
    write_bytes(baseline, source.read_bytes())


def check(baseline: Path, current: Path | None, tolerances: dict[str, float] | None = None,
          update: bool = False) -> int:
    """Print the comparison table and return 0 (all pass), 1 (a regression) or 2 (not comparable)."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # CI logs and pipes: no terminal width to respect, never squeeze numbers
        console = Console(width=200)
    baseline = Path(baseline)
    if update:
        old = load_run(baseline) if baseline.is_file() else None  # a folder is refused as the destination
        source = resolve_current(old, current)
        run = load_run(source)  # refuse to write a baseline nobody could read back
        write_baseline(Path(run["path"]), baseline, run)
        console.print(f"Baseline {baseline} updated from run {run['run_id']} ({', '.join(run['tasks'])}).",
                      markup=False)
        return PASS

    base = load_run(baseline)
    run = load_run(resolve_current(base, current))
    tolerances = tolerances or {}
    known = {m for entry in base["tasks"].values() for m in entry["metrics"]}
    unknown = sorted(set(tolerances) - known)
    if unknown:
        raise LLMRecError(f"--tolerance: {', '.join(unknown)} is not a metric of baseline {baseline} "
                          f"(it has {', '.join(sorted(known))})")

    lines = compare(base, run, tolerances)
    console.print(_table(lines, baseline, run))
    code = max((line.code for line in lines), default=PASS)
    console.print(_summary(code, lines), highlight=False)
    return code


def _table(lines: list[Line], baseline: Path, run: dict):
    from rich.markup import escape
    from rich.table import Table

    title = escape(f"{run['run_id']} ({run['path']}) vs baseline {baseline}")
    table = Table(title=title, title_justify="left")
    for name, justify in (("task", "left"), ("metric", "left"), ("baseline", "right"), ("current", "right"),
                          ("delta", "right"), ("verdict", "left")):
        # numbers and verdicts keep their width in narrow terminals; long metric names fold instead
        table.add_column(name, justify=justify, no_wrap=name != "metric", overflow="fold",
                         min_width={"baseline": 8, "current": 8, "delta": 8, "verdict": 10}.get(name))
    style = {"REGRESSION": "bold red", "MISMATCH": "bold yellow", "MISSING": "bold yellow", "better": "green"}
    for line in lines:
        cells = (line.task, line.metric, line.baseline, line.current, line.delta, line.verdict)
        table.add_row(*(escape(c) for c in cells), style=style.get(line.verdict))
    return table


def _summary(code: int, lines: list[Line]) -> str:
    if code == UNUSABLE:
        bad = sum(line.code == UNUSABLE for line in lines)
        return f"[bold yellow]not comparable[/]: {bad} mismatched or missing entr{'y' if bad == 1 else 'ies'} (exit 2)"
    if code == REGRESSION:
        bad = sum(line.code == REGRESSION for line in lines)
        return f"[bold red]regression[/]: {bad} metric(s) worse than the baseline allows (exit 1)"
    return f"[green]pass[/]: {len(lines)} metric(s) within tolerance of the baseline"
