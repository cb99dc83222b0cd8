"""Leaderboards from run records: one table per (task, dataset), as Markdown or one HTML file; or the
records flat, as CSV or JSON (llmrec.reporting.export).

A run folder (written by `llmrec bench`) holds `metrics.json`; this module reads it, checks its
shape, and renders the report's sections in order: the leaderboards (rows split into blocks of one
protocol each, see llmrec.reporting.groups) and the list of runs. llmrec.reporting.html renders the same
sections as one self-contained page with plots.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from llmrec.errors import LLMRecError
from llmrec.files import read_json
from llmrec.home import runs_dir
from llmrec.records import MANIFEST_FILE, METRICS_FILE
from llmrec.reporting.facts import format_half_ci, format_value, header, is_percent_scale, lower_is_better
from llmrec.reporting import html as report_html, overview, paired as report_paired
from llmrec.registry import Registry
from llmrec.reporting import export
from llmrec.judging import report as judge_preferences
from llmrec.reporting.groups import Block, Cell, Group, Report, block_caption
from llmrec.reporting.select import label_runs

FORMAT_VERSION = 1
# llmrec.reporting.summary and llmrec.reporting.check read these from here.
__all__ = ["METRICS_FILE", "format_half_ci", "format_value", "is_percent_scale", "load_run", "load_runs",
           "lower_is_better", "render_report"]


# ---------------------------------------------------------------- loading


def load_runs(paths: list[Path]) -> list[dict]:
    """Read runs from run folders, metrics.json files, or parent folders of runs.

    With no paths, every run under llmrec.home.runs_dir() is read. Runs come back oldest first; each is
    the metrics.json content plus "path" (the file it came from) and "label_extra" (the adapter's
    folder name, from metrics.json or the manifest, when the run used one).
    """
    paths = list(paths) or [runs_dir()]
    files: list[Path] = []
    for path in paths:
        files.extend(_metrics_files(Path(path)))
    runs, seen = [], set()
    for file in files:
        key = file.resolve()
        if key not in seen:
            seen.add(key)
            runs.append(load_run(file))
    runs.sort(key=lambda r: (r.get("created") or "", r["run_id"]))
    return runs


def _metrics_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.exists():
        raise LLMRecError(f"{path}: no such file or folder (expected a run folder or {METRICS_FILE})")
    if (path / METRICS_FILE).is_file():
        return [path / METRICS_FILE]
    found = sorted(path.rglob(METRICS_FILE))  # nested too: `bench --output results/runs/ci` is common
    if not found:
        raise LLMRecError(f"{path}: no {METRICS_FILE} in it or in its subfolders (expected run folders)")
    return found


def load_run(path: Path) -> dict:
    """One run from a run folder or a metrics.json-format file, validated and normalised."""
    path = Path(path)
    file = path / METRICS_FILE if path.is_dir() else path
    run = read_json(file, expected=f"{METRICS_FILE} of a run")
    _validate_run(run, file)
    run["path"] = str(file)
    adapter = run.get("adapter")
    if isinstance(adapter, str) and adapter:
        run["label_extra"] = Path(adapter.rstrip("/")).name  # the folder name tells adapters apart
    else:
        run["label_extra"] = _adapter_from_manifest(file.parent / MANIFEST_FILE)
    from llmrec.judging.attach import attach_judgments

    return attach_judgments(run)  # judge metrics recorded in the run folder (llmrec judge) join its own


def _validate_run(run: Any, file: Path) -> None:
    def fail(what: str) -> None:
        raise LLMRecError(f"{file}: {what}")

    if not isinstance(run, dict):
        fail("expected a JSON object with format, run_id, model and tasks")
    if run.get("format") != FORMAT_VERSION:
        fail(f"expected \"format\": {FORMAT_VERSION}, found {run.get('format')!r}")
    for key in ("run_id", "model"):
        if not isinstance(run.get(key), str) or not run[key]:
            fail(f"expected a non-empty string \"{key}\"")
    for key in ("created", "adapter"):
        if run.get(key) is not None and not isinstance(run[key], str):
            fail(f"expected \"{key}\" to be text or null, found {run[key]!r:.40}")
    tasks = run.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        fail("expected \"tasks\": an object with at least one task")
    for task, entry in tasks.items():
        if not isinstance(entry, dict):
            fail(f"tasks.{task}: expected an object")
        if not isinstance(entry.get("dataset"), str):
            fail(f"tasks.{task}.dataset: expected a dataset name")
        counts = entry.get("counts")
        if counts is not None and not (isinstance(counts, dict) and all(map(_is_count, counts.values()))):
            fail(f"tasks.{task}.counts: expected an object of sample counts")
        if entry.get("n_samples") is not None and not _is_count(entry["n_samples"]):
            fail(f"tasks.{task}.n_samples: expected a count of samples")
        metrics = entry.get("metrics")
        if not isinstance(metrics, dict):
            fail(f"tasks.{task}.metrics: expected an object of metric name -> {{value, ci}}")
        for name, metric in metrics.items():
            problem = _metric_problem(metric)
            if problem:
                fail(f"tasks.{task}.metrics.{name}: {problem}")
            _normalise_metric(metric)


def _metric_problem(metric: Any) -> str | None:
    if not isinstance(metric, dict) or "value" not in metric:
        return 'expected {"value": number, "ci": [low, high]}'
    if metric["value"] is not None and not _is_number(metric["value"]):
        return f"value should be a number or null, found {metric['value']!r}"
    ci = metric.get("ci")
    if ci is not None and not (isinstance(ci, list) and len(ci) == 2 and all(_is_number(x) for x in ci)):
        return f"ci should be [low, high] or null, found {ci!r}"
    return None


def _normalise_metric(metric: dict) -> None:
    """NaN (a metric no sample defines, e.g. MAE when nothing parsed) means "no value"."""
    if metric["value"] is not None and not math.isfinite(metric["value"]):
        metric["value"] = None
    ci = metric.get("ci")
    if ci is None or not all(math.isfinite(x) for x in ci):
        metric["ci"] = None


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _adapter_from_manifest(manifest: Path) -> str | None:
    """The adapter a run used, if its manifest says so; it tells apart runs of one base model."""
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # the report does not need the manifest; metrics.json is authoritative
    if not isinstance(data, dict):
        return None
    for holder in (data, data.get("backend"), data.get("backend_info")):
        if isinstance(holder, dict) and isinstance(holder.get("adapter"), str) and holder["adapter"]:
            return Path(holder["adapter"].rstrip("/")).name
    return None


# ---------------------------------------------------------------- sections


@dataclass(frozen=True)
class Section:
    """One part of the report, written both ways: each function takes the Report and returns its text."""

    markdown: Callable[[Report], str]
    html: Callable[[Report], str]


def render_report(runs: list[dict], fmt: str = "md") -> str:
    """The report of `runs` in one of FORMATS: Markdown, one self-contained HTML page, CSV or JSON records."""
    if fmt not in FORMATS:
        raise LLMRecError(f"--format: {FORMATS.unknown(fmt)}")
    if not runs:
        raise LLMRecError("no runs to report (expected at least one run folder)")
    return FORMATS.get(fmt)(label_runs(runs))


def markdown_report(runs: list[dict]) -> str:
    report = Report(runs)
    return "\n".join([_markdown_intro(report), *(s.markdown(report) for s in SECTIONS)])


def html_report(runs: list[dict]) -> str:
    report = Report(runs)
    return report_html.page(report, [s.html(report) for s in SECTIONS])


# ---------------------------------------------------------------- Markdown

INTRO = ("Values are the metric over all samples ± half the width of its 95% bootstrap CI; ↑ higher is better, "
         "↓ lower is better; n is the number of samples scored. Rows are comparable only when they share a protocol "
         "(same data, sample ids, candidates and their order, seed, metric definitions): a table whose rows do not is "
         "split into protocol blocks, each saying how it differs from the first. **Bold** is the best value of a "
         "column among the rows of one protocol, marked only when that protocol has more than one row. Within a "
         "block, rows are sorted by the task's headline metric, best first.")


def _markdown_intro(report: Report) -> str:
    return f"# llmrec report\n\n{len(report.runs)} run(s). {INTRO}\n"


def markdown_leaderboards(report: Report) -> str:
    return "\n".join(_markdown_group(group) for group in report.groups)


def _markdown_group(group: Group) -> str:
    lines = [f"## {group.title}", ""]
    if len(group.blocks) > 1:
        lines += [f"_{len(group.blocks)} protocols: numbers of different protocols are not comparable._", ""]
    for block in group.blocks:
        title, text = block_caption(group, block)
        lines += [f"**{title}**: {_md_escape(text)}", "", *_markdown_table(group, block), ""]
    lines += [f"_{group.sort_note()}_", ""]
    return "\n".join(lines)


def _markdown_table(group: Group, block: Block) -> list[str]:
    metrics = group.quality + group.validity
    base = group.base_columns()
    lines = ["| " + " | ".join(_md_escape(h) for h in base + [header(m) for m in metrics]) + " |",
             "|---|---:|---|" + "---:|" * (len(base) - 3 + len(metrics))]
    for row in block.rows:
        cells = [row.label, _count(row.n), row.settings_text()] + ([str(row.truncated)] if len(base) > 3 else [])
        cells = [_md_escape(c) for c in cells]
        for metric in metrics:
            cell = Cell(block, row, metric)
            text = f"{cell.text} {cell.ci}".strip()
            cells.append(f"**{text}**" if cell.best else text)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown_runs(report: Report) -> str:
    lines = ["## Runs", ""]
    for run in report.runs:
        lines.append(f"- `{run['run_id']}`: {_md_escape(run['model'])}, {run.get('created') or 'unknown time'}, "
                     f"{', '.join(run['tasks'])} ({run['path']})")
    return "\n".join(lines) + "\n"


def _count(n: int | None) -> str:
    return "—" if n is None else str(n)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


# The report's sections, in the order they are rendered; a new section is one more entry.
SECTIONS: list[Section] = [
    Section(overview.markdown, report_html.summary),
    Section(markdown_leaderboards, report_html.leaderboards),
    Section(report_paired.markdown, report_paired.html),
    Section(judge_preferences.markdown, judge_preferences.html),
    Section(lambda report: "", report_html.samples),  # per-sample records need a page to browse them
    Section(markdown_runs, report_html.run_list),
]

# The formats `llmrec report --format` writes: a new one is one more entry.
FORMATS: Registry[Callable[[list[dict]], str]] = Registry("report format")
FORMATS.add("md", markdown_report, "Markdown leaderboards")
FORMATS.add("html", html_report, "one self-contained HTML page with tables and plots")
FORMATS.add("csv", export.csv_text, "every leaderboard, one row per run x task x metric: value, ci_lo, ci_hi, "
            "its protocol block, position and best mark, and the protocol keys")
FORMATS.add("json", export.json_text, "the CSV's records as a JSON list")
