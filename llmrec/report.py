"""Leaderboards from run records: one table per (task, dataset), as Markdown or one HTML file.

A run folder (written by `llmrec bench`) holds `metrics.json`; this module reads it, checks its
shape, and renders models as rows and metrics as columns. Plots are drawn with matplotlib's Agg
backend and inlined as base64 PNG so the HTML report is a single file that can be mailed or
uploaded as a CI artifact.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llmrec.errors import LLMRecError, where

RUNS_DIR = Path("results/runs")
METRICS_FILE = "metrics.json"
MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1

QUALITY_ORDER = (
    "rmse", "mae", "coverage",
    "hr@1", "hr@5", "hr@10", "ndcg@5", "ndcg@10", "mrr",
    "bleu-1", "bleu-4", "rouge-1", "rouge-2", "rouge-l", "p5-rouge-1", "p5-rouge-2", "p5-rouge-l",
)  # fmt: skip
VALIDITY_ORDER = ("parse_failure_rate", "hallucination_rate", "out_of_candidate_rate", "duplicate_rate",
                  "strict_parse_failure_rate")
# The strict view's scores (llmrec.metrics.STRICT_RANKING) follow the refined ones they mirror.
STRICT_ORDER = ("strict_hr@1", "strict_hr@5", "strict_hr@10", "strict_ndcg@5", "strict_ndcg@10", "strict_mrr")
RANKING_KS = (1, 5, 10)


# ---------------------------------------------------------------- loading


def load_runs(paths: list[Path]) -> list[dict]:
    """Read runs from run folders, metrics.json files, or parent folders of runs.

    With no paths, every run under results/runs is read. Runs come back oldest first; each is
    the metrics.json content plus "path" (the file it came from) and "label_extra" (the adapter's
    folder name, from metrics.json or the manifest, when the run used one).
    """
    paths = list(paths) or [RUNS_DIR]
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
    run = read_json(file)
    _validate_run(run, file)
    run["path"] = str(file)
    adapter = run.get("adapter")
    if isinstance(adapter, str) and adapter:
        run["label_extra"] = Path(adapter.rstrip("/")).name  # the folder name tells adapters apart
    else:
        run["label_extra"] = _adapter_from_manifest(file.parent / MANIFEST_FILE)
    return run


def read_json(file: Path) -> Any:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LLMRecError(f"{file}: file not found (expected {METRICS_FILE} of a run)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LLMRecError(f"{file}: cannot read ({e})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise LLMRecError(f"{where(file, e.lineno)}: invalid JSON ({e.msg})") from None


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
    tasks = run.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        fail("expected \"tasks\": an object with at least one task")
    for task, entry in tasks.items():
        if not isinstance(entry, dict):
            fail(f"tasks.{task}: expected an object")
        if not isinstance(entry.get("dataset"), str):
            fail(f"tasks.{task}.dataset: expected a dataset name")
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


# ---------------------------------------------------------------- metric facts


def lower_is_better(metric: str) -> bool:
    from llmrec.metrics import LOWER_IS_BETTER

    return metric in LOWER_IS_BETTER


def is_percent_scale(metric: str) -> bool:
    """BLEU and ROUGE are reported x100; everything else lives on [0, 1] or the rating scale."""
    return metric.startswith(("bleu", "rouge", "p5-rouge"))


def is_validity(metric: str) -> bool:
    return metric.endswith("_rate")


def _order(names: set[str], order: tuple[str, ...]) -> list[str]:
    known = [n for n in order if n in names]
    return known + sorted(names - set(known))


# ---------------------------------------------------------------- grouping


class Row:
    """One (run, task) entry of a leaderboard."""

    def __init__(self, run: dict, task: str):
        self.run = run
        self.entry = run["tasks"][task]
        self.metrics: dict[str, dict] = self.entry["metrics"]
        parts = [run["model"], self.entry.get("template"), self.entry.get("scoring"), run.get("label_extra")]
        self.label = " · ".join(str(p) for p in parts if p)

    def value(self, metric: str) -> float | None:
        m = self.metrics.get(metric)
        return None if m is None else m.get("value")

    def half_ci(self, metric: str) -> float | None:
        m = self.metrics.get(metric) or {}
        ci = m.get("ci")
        return None if ci is None else (ci[1] - ci[0]) / 2


class Group:
    """The leaderboard of one (task, dataset)."""

    def __init__(self, task: str, dataset: str, rows: list[Row]):
        self.task, self.dataset, self.rows = task, dataset, rows
        names = {n for r in rows for n in r.metrics}
        self.quality = _order({n for n in names if not is_validity(n)}, QUALITY_ORDER + STRICT_ORDER)
        self.validity = _order({n for n in names if is_validity(n)}, VALIDITY_ORDER)
        self.ranking = any(n.startswith(("hr@", "ndcg@")) for n in names)

    @property
    def title(self) -> str:
        return f"{self.task} · {self.dataset}"

    def distinct(self, key: str) -> list:
        return sorted({r.entry.get(key) for r in self.rows}, key=str)

    def best(self, metric: str) -> float | None:
        values = [v for r in self.rows if (v := r.value(metric)) is not None]
        if len(set(values)) < 2:
            return None  # a lone value, or a tie of every row, has nothing to point out
        return min(values) if lower_is_better(metric) else max(values)

    def notes(self) -> list[str]:
        """Facts a reader needs before comparing rows, and warnings when rows are not comparable."""
        notes = []
        candidates = [c for c in self.distinct("candidates") if c is not None]
        if len(candidates) == 1:
            notes.append(f"{candidates[0]} candidates per user")
        elif candidates:
            notes.append("warning: rows use different candidate counts (" + ", ".join(map(str, candidates)) + ")")
        over = [o for o in self.distinct("ranking_over") if o]
        if "catalog" in over:
            notes.append("ranked over the whole catalog" if len(over) == 1 else
                         "warning: some rows rank the whole catalog, others only the candidates")
        prints = [f for f in self.distinct("fingerprint") if f]
        if len(prints) == 1:
            notes.append(f"data fingerprint {prints[0][:12]}")
        elif prints:
            short = ", ".join(f[:12] for f in prints)
            notes.append(f"warning: rows were built from different data (fingerprints {short})")
        return notes


def group_runs(runs: list[dict]) -> list[Group]:
    rows: dict[tuple[str, str], list[Row]] = {}
    for run in runs:
        for task in run["tasks"]:
            row = Row(run, task)
            rows.setdefault((task, row.entry["dataset"]), []).append(row)
    task_order = {t: i for i, t in enumerate(("rating", "sequential", "direct", "explanation", "review"))}
    groups = [Group(t, d, r) for (t, d), r in rows.items()]
    for group in groups:
        _disambiguate(group.rows)
    return sorted(groups, key=lambda g: (task_order.get(g.task, 99), g.task, g.dataset))


def _disambiguate(rows: list[Row]) -> None:
    """Rows with the same label (reruns of one configuration) get their run id appended."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.label] = counts.get(row.label, 0) + 1
    for row in rows:
        if counts[row.label] > 1:
            row.label = f"{row.label} ({row.run['run_id']})"


# ---------------------------------------------------------------- formatting


def format_value(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    if is_validity(metric):  # rates read best as percentages
        return f"{value * 100:.1f}%"
    return f"{value:.{2 if is_percent_scale(metric) else 4}f}"


def format_half_ci(metric: str, half_ci: float | None) -> str:
    """'± 0.0120', or '' when there is no interval (or a zero-width one, e.g. coverage 1.0)."""
    if not half_ci:
        return ""
    if is_validity(metric):
        return f"± {half_ci * 100:.1f}"
    return f"± {half_ci:.{2 if is_percent_scale(metric) else 4}f}"


def _header(metric: str) -> str:
    if is_validity(metric):
        return metric.removesuffix("_rate").replace("_", " ") + " ↓"
    return metric + (" ↓" if lower_is_better(metric) else " ↑")


def render_report(runs: list[dict], fmt: str = "md") -> str:
    """The leaderboards of `runs` as Markdown ("md") or one self-contained HTML page ("html")."""
    if fmt not in ("md", "html"):
        raise LLMRecError(f"--format: expected md or html, got {fmt!r}")
    if not runs:
        raise LLMRecError("no runs to report (expected at least one run folder)")
    groups = group_runs(runs)
    return _markdown(runs, groups) if fmt == "md" else _html(runs, groups)


def _truncated(row: Row) -> int:
    return int((row.entry.get("counts") or {}).get("truncated") or 0)


def _base_columns(group: Group) -> list[str]:
    """model, samples, and 'truncated' only when some prompt had to be shortened."""
    return ["model", "samples"] + (["truncated"] if any(_truncated(r) for r in group.rows) else [])


def _base_cells(group: Group, row: Row) -> list[str]:
    cells = [row.label, _samples(row)]
    return cells + [str(_truncated(row))] if len(_base_columns(group)) == 3 else cells


class Cell:
    """One metric of one row, formatted, and whether it is the column's best."""

    def __init__(self, group: Group, row: Row, metric: str):
        self.value = row.value(metric)
        self.text = format_value(metric, self.value)
        self.ci = format_half_ci(metric, row.half_ci(metric)) if self.value is not None else ""
        self.best = self.value is not None and self.value == group.best(metric)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown(runs: list[dict], groups: list[Group]) -> str:
    lines = ["# llmrec report", "",
             f"{len(runs)} run(s). Values are the metric over all samples ± half the width of its 95% "
             "bootstrap CI; ↑ higher is better, ↓ lower is better; **bold** is the best value per column.", ""]
    for group in groups:
        lines += [f"## {group.title}", ""]
        if group.notes():
            lines += ["_" + "; ".join(group.notes()) + "_", ""]
        metrics = group.quality + group.validity
        base = _base_columns(group)
        lines.append("| " + " | ".join(_md_escape(h) for h in base + [_header(m) for m in metrics]) + " |")
        lines.append("|---|" + "---:|" * (len(base) - 1 + len(metrics)))
        for row in group.rows:
            cells = [_md_escape(c) for c in _base_cells(group, row)]
            for metric in metrics:
                cell = Cell(group, row, metric)
                text = f"{cell.text} {cell.ci}".strip()
                cells.append(f"**{text}**" if cell.best else text)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _samples(row: Row) -> str:
    n = row.entry.get("n_samples")
    return "—" if n is None else str(n)


# ---------------------------------------------------------------- HTML

_BEST = "#d3f2dc"
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5rem auto;
       max-width: 1360px; padding: 0 1rem; color: #1f2933; background: #fff; }
h1 { margin-bottom: .2rem; }
h2 { margin-top: 2.2rem; border-bottom: 2px solid #e4e7eb; padding-bottom: .3rem; }
.sub { color: #52606d; margin-top: .3rem; max-width: 60rem; line-height: 1.4; }
.note { color: #52606d; margin: .2rem 0; font-size: .9rem; }
.warn { color: #9b2c2c; font-weight: 600; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .86rem; }
th, td { padding: .3rem .5rem; border-bottom: 1px solid #e4e7eb; white-space: nowrap; }
th { background: #f5f7fa; text-align: right; font-weight: 600; vertical-align: bottom;
     white-space: normal; max-width: 6.5rem; }
th:first-child, td:first-child { text-align: left; white-space: normal; min-width: 10rem; max-width: 16rem; }
td { text-align: right; font-variant-numeric: tabular-nums; vertical-align: top; }
tbody tr:hover { background: #f3f6fa; }
td .ci { display: block; font-size: .75rem; color: #7b8794; font-weight: 400; }
td.best { background: BEST; font-weight: 700; color: #14532d; }
th.validity { background: #eceef1; color: #52606d; }
th.first-validity, td.first-validity { border-left: 2px solid #cbd2d9; }
.swatch { display: inline-block; width: .75rem; height: .75rem; border-radius: 2px; margin-right: .45rem;
          vertical-align: -1px; }
.scroll { overflow-x: auto; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
.plots img { max-width: 100%; border: 1px solid #e4e7eb; border-radius: 4px; }
.ok { color: #276749; font-size: .9rem; }
details { margin-top: 2.5rem; font-size: .88rem; color: #52606d; }
""".replace("BEST", _BEST)


def _html(runs: list[dict], groups: list[Group]) -> str:
    e = html.escape
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    colors = _model_colors(groups)
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>llmrec report</title><style>{_CSS}</style></head><body>",
        "<h1>llmrec report</h1>",
        f"<p class='sub'>{len(runs)} run(s), generated {now}. Each value is the metric over all samples, "
        "with half the width of its 95% bootstrap confidence interval below it. ↑ higher is better, "
        f"↓ lower is better; the best value of each column is <span style='background:{_BEST};"
        "font-weight:700'>&nbsp;highlighted&nbsp;</span>. The grey columns on the right are validity "
        "rates: answers that could not be parsed, named items that do not exist, items outside the "
        "candidate list, and repeated items. A model's colour is the same in every table and plot.</p>",
    ]
    for group in groups:
        out.append(f"<h2>{e(group.title)}</h2>")
        for note in group.notes():
            cls = "note warn" if note.startswith("warning") else "note"
            out.append(f"<p class='{cls}'>{e(note)}</p>")
        out.append(_html_table(group, colors))
        out.append(_html_plots(group, colors))
    out.append(_html_run_list(runs))
    out.append("</body></html>")
    return "\n".join(out)


def _model_colors(groups: list[Group]) -> dict[str, str]:
    """One colour per row label across the whole report, in order of first appearance."""
    labels = list(dict.fromkeys(row.label for group in groups for row in group.rows))
    palette = _palette(len(labels))
    return {label: palette[i] for i, label in enumerate(labels)}


def _html_table(group: Group, colors: dict[str, str]) -> str:
    e = html.escape
    metrics = group.quality + group.validity
    first_validity = group.validity[0] if group.validity else None

    def cls(metric: str, *extra: str) -> str:
        names = [*extra]
        if is_validity(metric):
            names.append("validity")
        if metric == first_validity:
            names.append("first-validity")
        return " ".join(names)

    parts = ["<div class='scroll'><table><thead><tr>"] + [f"<th>{h}</th>" for h in _base_columns(group)]
    # a no-break space keeps each arrow on the line of its metric name when headers wrap
    parts += [f"<th class='{cls(m)}'>{e(_header(m)).replace(' ↑', '&nbsp;↑').replace(' ↓', '&nbsp;↓')}</th>"
              for m in metrics]
    parts.append("</tr></thead><tbody>")
    for row in group.rows:
        swatch = f"<span class='swatch' style='background:{colors[row.label]}'></span>"
        label, *rest = _base_cells(group, row)
        parts.append(f"<tr><td>{swatch}{e(label)}</td>" + "".join(f"<td>{e(c)}</td>" for c in rest))
        for metric in metrics:
            cell = Cell(group, row, metric)
            ci = f"<span class='ci'>{e(cell.ci)}</span>" if cell.ci else ""
            parts.append(f"<td class='{cls(metric, 'best') if cell.best else cls(metric)}'>{e(cell.text)}{ci}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table></div>")
    return "".join(parts)


def _html_run_list(runs: list[dict]) -> str:
    e = html.escape
    items = "".join(
        f"<li><code>{e(r['run_id'])}</code> — {e(r['model'])}, {e(r.get('created') or 'unknown time')}, "
        f"tasks: {e(', '.join(r['tasks']))}</li>"
        for r in runs
    )
    return f"<details><summary>Runs included</summary><ul>{items}</ul></details>"


def _html_plots(group: Group, colors: dict[str, str]) -> str:
    images = []
    def defined(metrics: list[str]) -> bool:
        return any(row.value(m) is not None for row in group.rows for m in metrics)

    if group.ranking:
        if defined([m for m in group.quality if m.startswith(("hr@", "ndcg@"))]):
            images.append(_png(_ranking_curves(group, colors), "HR@k and NDCG@k per model"))
    else:
        bars = [m for m in group.quality if m != "coverage"]  # coverage is a rate, not a score scale
        if defined(bars):
            images.append(_png(_quality_bars(group, bars, colors), f"{', '.join(bars)} per model"))
    validity_note = ""
    rated = [row for row in group.rows if any(row.value(m) is not None for m in group.validity)]
    if rated:
        if any(row.value(m) for row in rated for m in group.validity):
            images.append(_png(_validity_bars(group, rated), "validity rates per model"))
        else:
            validity_note = ("<p class='ok'>Every answer was valid: no parse failures, unknown items, "
                             "out-of-candidate items or duplicates.</p>")
    return f"<div class='plots'>{''.join(images)}</div>{validity_note}"


def _png(fig, alt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def _figure(width: float, height: float):
    # Figure objects (not pyplot) keep no global state and need no display.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig


def _palette(n: int) -> list[str]:
    import matplotlib
    from matplotlib.colors import to_hex

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [to_hex(cmap(i % cmap.N)) for i in range(n)]


def _yerr(row: Row, metric: str, value: float) -> tuple[float, float]:
    ci = (row.metrics.get(metric) or {}).get("ci")
    if ci is None:
        return (0.0, 0.0)
    return (max(value - ci[0], 0.0), max(ci[1] - value, 0.0))


def _legend(fig, axes, rows: int) -> None:
    handles, labels = axes.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.02), ncol=2 if rows > 1 else 1,
                   frameon=False, fontsize=8)


def _ranking_curves(group: Group, colors: dict[str, str]):
    fig = _figure(7.6, 3.2)
    axes = fig.subplots(1, 2, sharey=True)
    n = len(group.rows)
    for family, ax in zip(("hr", "ndcg"), axes):
        for i, row in enumerate(group.rows):
            offset = (i - (n - 1) / 2) * 0.3 / max(n, 1)  # nudge models apart so error bars stay visible
            xs, ys, lo, hi = [], [], [], []
            for k in RANKING_KS:
                # With one relevant item NDCG@1 equals HR@1 (1/log2(2) = 1); runs store only hr@1.
                metric = "hr@1" if (family, k) == ("ndcg", 1) else f"{family}@{k}"
                value = row.value(metric)
                if value is None:
                    continue
                err = _yerr(row, metric, value)
                xs.append(k + offset), ys.append(value), lo.append(err[0]), hi.append(err[1])
            if xs:
                ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", markersize=4, capsize=2.5, linewidth=1.5,
                            elinewidth=0.9, color=colors[row.label], label=row.label)
        ax.set_title(f"{family.upper()}@k", fontsize=10)
        ax.set_xticks(RANKING_KS)
        ax.set_xlabel("k", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    axes[0].set_ylabel("score, 95% CI", fontsize=9)
    _legend(fig, axes[0], n)
    return fig


def _quality_bars(group: Group, metrics: list[str], colors: dict[str, str]):
    import numpy as np

    fig = _figure(max(4.0, 0.9 * len(metrics) + 2.2), 3.2)
    ax = fig.subplots()
    n = len(group.rows)
    width = 0.8 / n
    x = np.arange(len(metrics))
    for i, row in enumerate(group.rows):
        values = [row.value(m) for m in metrics]
        heights = [0.0 if v is None else v for v in values]
        errs = np.array([_yerr(row, m, v) if v is not None else (0.0, 0.0) for m, v in zip(metrics, values)]).T
        ax.bar(x + (i - (n - 1) / 2) * width, heights, width, color=colors[row.label], label=row.label,
               yerr=errs, capsize=2, error_kw={"elinewidth": 0.8})
    ax.set_xticks(x, [_header(m) for m in metrics], fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    scale = " (×100)" if all(is_percent_scale(m) for m in metrics) else ""
    ax.set_title(f"{group.task}{scale}, 95% CI", fontsize=10)
    _legend(fig, ax, n)
    return fig


_RATE_COLORS = ("#c2410c", "#7c3aed", "#0e7490", "#a16207")


def _validity_bars(group: Group, rows: list[Row]):
    """Horizontal bars, one cluster per model: the model names read like the table's rows."""
    import numpy as np

    rates = group.validity
    fig = _figure(4.4, 1.0 + 0.15 * len(rows) * len(rates) + 0.2 * len(rows))
    ax = fig.subplots()
    height = 0.8 / len(rates)
    y = np.arange(len(rows))
    for j, (rate, color) in enumerate(zip(rates, _RATE_COLORS * 2)):
        values = [row.value(rate) for row in rows]
        widths = [0.0 if v is None else v * 100 for v in values]
        errs = np.array([_yerr(row, rate, v) if v is not None else (0.0, 0.0) for row, v in zip(rows, values)]).T
        ax.barh(y + (j - (len(rates) - 1) / 2) * height, widths, height, color=color,
                label=rate.removesuffix("_rate").replace("_", " "), xerr=errs * 100, capsize=2,
                error_kw={"elinewidth": 0.8})
    ax.set_yticks(y, [_wrap(row.label) for row in rows], fontsize=8)
    ax.invert_yaxis()  # same order as the table
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel("% (lower is better)", fontsize=9)
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("validity rates, 95% CI", fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False, fontsize=8)
    return fig


def _wrap(label: str, width: int = 28) -> str:
    """Long row labels break at ' · ' so the y axis does not squeeze the plot."""
    import textwrap

    return "\n".join(textwrap.wrap(label, width, break_long_words=False)) if len(label) > width else label
