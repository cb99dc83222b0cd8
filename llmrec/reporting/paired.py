"""The report's paired comparisons: within each protocol block, its top row against every other row.

The leaderboards show each run's own CI; whether the top row is ahead of another is a paired question
(the same samples, the same bootstrap draws, a permutation test), answered by llmrec.reporting.compare on the
block's headline metric. Rows without recorded samples (a baseline file) cannot be paired and are named.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from llmrec.errors import LLMRecError
from llmrec.reporting.facts import format_value
from llmrec.reporting.groups import Block, Group, Report

# Fewer draws than `llmrec compare`: a report pairs many rows, and the headline verdict rarely sits on the edge.
N_BOOT, N_PERM = 1000, 2000


@dataclass
class Pairing:
    group: Group
    block: Block
    a: str  # row labels
    b: str
    metric: str
    result: dict | None  # a paired row of llmrec.reporting.compare (diff, ci, p, verdict), None when not possible
    why_not: str = ""


def pairings(report: Report) -> list[Pairing]:
    from llmrec.reporting.compare import compare_task

    out = []
    for group in report.groups:
        if not group.headline:
            continue
        metric = group.headline[0]
        for block in group.blocks:
            if not block.known or len(block.rows) < 2:
                continue
            top, *others = block.rows
            for row in others:
                try:
                    comparison = compare_task(top.run, row.run, group.task, n_boot=N_BOOT, n_perm=N_PERM)
                    result = next(m for m in comparison.to_json()["metrics"] if m["metric"] == metric)
                    out.append(Pairing(group, block, top.label, row.label, metric, result))
                except LLMRecError as e:  # e.g. a run folder without samples.jsonl
                    out.append(Pairing(group, block, top.label, row.label, metric, None, str(e)))
    return out


def _cells(p: Pairing) -> list[str]:
    where = f"{p.group.title}" + (f" · protocol {p.block.letter}" if len(p.group.blocks) > 1 else "")
    if p.result is None:
        return [where, p.a, p.b, p.metric, "—", "—", "—", f"not paired: {p.why_not}"]
    r = p.result
    diff = "—" if r["diff"] is None else f"{r['diff']:+.4g}"
    ci = "—" if r["ci"] is None or None in r["ci"] else f"[{r['ci'][0]:+.4g}, {r['ci'][1]:+.4g}]"
    p_value = "—" if r["p"] is None else ("<0.0001" if r["p"] < 1e-4 else f"{r['p']:.4f}")
    verdict = {"A better": f"{p.a} better", "B better": f"{p.b} better"}.get(r["verdict"], r["verdict"])
    return [where, p.a, p.b, f"{p.metric} ({format_value(p.metric, r['a'])} vs {format_value(p.metric, r['b'])})",
            diff, ci, p_value, verdict]


HEADERS = ["table", "top row (A)", "other row (B)", "metric", "A−B", "95% CI of A−B", "p", "verdict"]
NOTE = (f"Each block's top row against each other row of the same block, on the task's headline metric, over their "
        f"shared samples: the difference with a paired bootstrap 95% CI ({N_BOOT} resamples, the same draws for both "
        f"rows) and a two-sided paired permutation p-value ({N_PERM} swaps). `llmrec compare RUN_A RUN_B` gives every "
        "metric.")


def markdown(report: Report) -> str:
    rows = [_cells(p) for p in pairings(report)]
    if not rows:
        return ""
    lines = ["## Paired comparisons", "", NOTE, "", "| " + " | ".join(HEADERS) + " |",
             "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n"


def html(report: Report) -> str:
    rows = [_cells(p) for p in pairings(report)]
    if not rows:
        return ""
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>" for cells in rows)
    return (f"<h2>Paired comparisons</h2><p class='note'>{escape(NOTE)}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
