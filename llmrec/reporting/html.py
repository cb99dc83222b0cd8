"""The report as one self-contained HTML page: tables per protocol block, plots inlined as base64 PNG.

The page can be mailed or uploaded as a CI artifact: styles are inline and nothing is fetched.
A run keeps one colour (llmrec.reporting.groups.run_colors) in every table, plot and the run list.
"""

from __future__ import annotations

import base64
from html import escape
import io
from datetime import datetime, timezone

from llmrec.reporting import drilldown, drilldown_page, overview, plots as report_plots
from llmrec.judging.attach import is_judge_metric
from llmrec.reporting.facts import header, is_validity
from llmrec.reporting.groups import Block, Cell, Group, Report, Row, block_caption


_BEST = "#d3f2dc"
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5rem auto;
       max-width: 1360px; padding: 0 1rem; color: #1f2933; background: #fff; }
h1 { margin-bottom: .2rem; }
h2 { margin-top: 2.2rem; border-bottom: 2px solid #e4e7eb; padding-bottom: .3rem; }
.sub { color: #52606d; margin-top: .3rem; max-width: 64rem; line-height: 1.4; }
.note { color: #52606d; margin: .3rem 0; font-size: .88rem; }
.warn { color: #9b2c2c; font-weight: 600; }
.block { margin: .9rem 0 1.4rem; padding-left: .8rem; border-left: 4px solid #cbd2d9; }
.block.unknown { border-left-color: #e0b4b4; }
.protocol { margin: .2rem 0; font-size: .9rem; color: #3e4c59; }
.protocol b { color: #1f2933; }
table { border-collapse: collapse; margin: .5rem 0 .8rem; font-size: .86rem; }
th, td { padding: .3rem .5rem; border-bottom: 1px solid #e4e7eb; white-space: nowrap; }
th { background: #f5f7fa; text-align: right; font-weight: 600; vertical-align: bottom;
     white-space: normal; max-width: 6.5rem; }
th.left, td.left { text-align: left; }
td.model { white-space: normal; min-width: 8rem; max-width: 14rem; }
td.settings { white-space: normal; min-width: 9rem; max-width: 15rem; font-size: .74rem; color: #52606d; }
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
.ok { color: #276749; font-size: .88rem; }
details { margin-top: 2.5rem; font-size: .88rem; color: #52606d; }
details li { margin: .2rem 0; }
td.model a { color: inherit; text-decoration: none; border-bottom: 1px dotted #9aa5b1; }
td.other { color: #7b8794; }
th.task { max-width: none; white-space: nowrap; }
td.other sup { font-weight: 700; color: #52606d; margin-left: .15rem; }
""".replace("BEST", _BEST) + drilldown_page.CSS


def page(report: Report, sections: list[str]) -> str:
    """The whole page: head, introduction, then the sections' HTML in order."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    intro = (
        f"{len(report.runs)} run(s), generated {now}. Each value is the metric over all samples, with half the "
        "width of its 95% bootstrap confidence interval below it; ↑ higher is better, ↓ lower is better; n is the "
        "number of samples scored. Rows are comparable only when they share a protocol (same data, sample ids, "
        "candidates and their order, seed, metric definitions): a table whose rows do not is split into protocol "
        "blocks, each saying how it differs from the first, and each with its own plots. The best value of a column "
        f"among the rows of one protocol is <span style='background:{_BEST};font-weight:700'>&nbsp;highlighted"
        "&nbsp;</span>, when that protocol has more than one row. Rows are sorted by the task's headline metric, "
        "best first. The grey columns are validity rates: answers that could not be parsed, named items that do "
        "not exist, items outside the candidate list, and repeated items. A run has one colour in every table "
        "and plot."
    )
    return "\n".join([
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>llmrec report</title><style>{_CSS}</style></head><body>",
        "<h1>llmrec report</h1>",
        f"<p class='sub'>{intro}</p>",
        *sections,
        "</body></html>",
    ])


def leaderboards(report: Report) -> str:
    return "\n".join(_group(group, report.colors) for group in report.groups)


def _group(group: Group, colors: dict[str, str]) -> str:
    out = [f"<h2>{escape(group.title)}</h2>"]
    if len(group.blocks) > 1:
        out.append(f"<p class='note warn'>{len(group.blocks)} protocols: numbers of different protocols are not "
                   "comparable.</p>")
    for block in group.blocks:
        title, text = block_caption(group, block)
        named = title if len(group.blocks) > 1 else ""
        out += [f"<div class='block{'' if block.known else ' unknown'}'>",
                f"<p class='protocol'><b>{escape(title)}</b>: {escape(text)}</p>",
                _table(group, block, colors), _plots(group, block, colors, named), "</div>"]
    out.append(f"<p class='note'>{escape(group.sort_note())}</p>")
    rated = [row for row in group.rows if any(row.value(m) is not None for m in group.validity)]
    if rated and not _failures(rated, group.validity):
        out.append("<p class='ok'>Every answer was valid: no parse failures, unknown items, out-of-candidate items "
                   "or duplicates.</p>")
    return "\n".join(out)


def _failures(rows: list[Row], rates: list[str]) -> bool:
    """Whether some answer of these rows failed a validity check (a rate above zero)."""
    return any(row.value(m) for row in rows for m in rates)


def _table(group: Group, block: Block, colors: dict[str, str]) -> str:
    metrics = group.quality + group.validity
    first_validity = group.validity[0] if group.validity else None

    def cls(metric: str, *extra: str) -> str:
        names = [*extra]
        if is_validity(metric):
            names.append("validity")
        if metric == first_validity:
            names.append("first-validity")
        return " ".join(names)

    base = group.base_columns()
    parts = ["<div class='scroll'><table><thead><tr>"]
    parts += [f"<th class='{'left' if h in ('model', 'settings') else ''}'>{h}</th>" for h in base]
    # a no-break space keeps each arrow on the line of its metric name when headers wrap
    parts += [f"<th class='{cls(m)}'>{escape(header(m)).replace(' ↑', '&nbsp;↑').replace(' ↓', '&nbsp;↓')}</th>"
              for m in metrics]
    parts.append("</tr></thead><tbody>")
    for row in block.rows:
        parts.append(f"<tr>{_label_cell(row, colors, group.task)}<td>{'—' if row.n is None else row.n}</td>"
                     f"<td class='settings left'>{escape(row.settings_text())}</td>")
        if "truncated" in base:
            parts.append(f"<td>{row.truncated}</td>")
        for metric in metrics:
            cell = Cell(block, row, metric)
            ci = f"<span class='ci'>{escape(cell.ci)}</span>" if cell.ci else ""
            classes = cls(metric, "best") if cell.best else cls(metric)
            parts.append(f"<td class='{classes}'>{escape(cell.text)}{ci}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table></div>")
    return "".join(parts)


def _label_cell(row: Row, colors: dict[str, str], task: str) -> str:
    """The row's model; a click opens the run's samples of this task in the drill-down."""
    tip = f"run {row.run_id}; {row.settings_text()}; click for its samples"
    link = (f"<a href='#samples' data-dd-run='{escape(row.run_id)}' data-dd-task='{escape(task)}'>"
            f"{escape(row.label)}</a>")
    return f"<td class='model left' title='{escape(tip)}'>{_swatch(colors[row.run_id])}{link}</td>"


def _swatch(color: str) -> str:
    return f"<span class='swatch' style='background:{color}'></span>"


def _plots(group: Group, block: Block, colors: dict[str, str], title: str) -> str:
    """The block's plots: HR/NDCG curves (ranking) or score bars, and validity bars when some answer failed
    (when none did, the group says so once)."""
    images = []

    def defined(metrics: list[str]) -> bool:
        return any(row.value(m) is not None for row in block.rows for m in metrics)

    name = f"{group.task} · {title}" if title else group.task
    if group.kind == "ranking":
        if defined([m for m in group.quality if m.startswith(("hr@", "ndcg@"))]):
            images.append(_png(report_plots.ranking_curves(block.rows, colors, title), "HR@k and NDCG@k per model"))
    else:
        bars = [m for m in group.quality if m != "coverage"]  # coverage is a rate, not a score scale
        judged = [m for m in bars if is_judge_metric(m)]  # 1-5 scores and shares: not the x100 scale of ROUGE
        for chosen in ([m for m in bars if m not in judged], judged):
            if defined(chosen):
                figure = report_plots.quality_bars(block.rows, chosen, colors, name)
                images.append(_png(figure, f"{', '.join(chosen)} per model"))
    rated = [row for row in block.rows if any(row.value(m) is not None for m in group.validity)]
    if _failures(rated, group.validity):
        images.append(_png(report_plots.validity_bars(rated, group.validity, title), "validity rates per model"))
    return f"<div class='plots'>{''.join(images)}</div>"


def _png(fig, alt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<img alt='{escape(alt)}' src='data:image/png;base64,{data}'>"


def summary(report: Report) -> str:
    """The cross-task summary (llmrec.reporting.overview): one row per model, a column per leaderboard."""
    table = overview.summarise(report)
    if not table.columns:
        return ""
    colors: dict[str, str] = {}  # a label's colour: its run's in the first leaderboard that has it
    for row in (row for g in report.groups for b in g.blocks for row in b.rows):
        colors.setdefault(row.label, report.colors[row.run_id])
    parts = ["<h2>Summary across tasks</h2>", f"<p class='note'>{escape(overview.NOTE)}</p>",
             "<div class='scroll'><table><thead><tr><th class='left'>model</th>"]
    parts += [f"<th class='task'>{escape(c.group.task)}<br>{escape(c.group.dataset)}<br>{escape(header(c.metric))}</th>"
              for c in table.columns]
    parts.append("</tr></thead><tbody>")
    for label, cells in overview.model_rows(table):
        parts.append(f"<tr><td class='model left'>{_swatch(colors[label])}{escape(label)}</td>")
        for item in cells:
            parts.append(_summary_cell(item))
        parts.append("</tr>")
    parts.append("</tbody></table></div>")
    return "".join(parts)


def _summary_cell(item: overview.SummaryCell) -> str:
    if item.cell is None:
        return "<td>—</td>"
    ci = f"<span class='ci'>{escape(item.cell.ci)}</span>" if item.cell.ci else ""
    if item.mark:
        tip = "another protocol than this column's (see the leaderboard): not comparable"
        return (f"<td class='other' title='{escape(tip)}'>{escape(item.cell.text)}<sup>{escape(item.mark)}</sup>"
                f"{ci}</td>")
    return f"<td class='{'best' if item.cell.best else ''}'>{escape(item.cell.text)}{ci}</td>"


def samples(report: Report) -> str:
    """The per-sample drill-down (llmrec.reporting.drilldown, rendered by llmrec.reporting.drilldown_page)."""
    return drilldown_page.section(drilldown.build(report))


def run_list(report: Report) -> str:
    items = "".join(
        f"<li>{_swatch(report.colors[r['run_id']])}<code>{escape(r['run_id'])}</code> — {escape(r['model'])}, "
        f"{escape(r.get('created') or 'unknown time')}, tasks: {escape(', '.join(r['tasks']))}</li>"
        for r in report.runs
    )
    return f"<details><summary>Runs included</summary><ul>{items}</ul></details>"
