"""The report's "Judge preferences" section: every pairwise judgment recorded in the reported runs.

Pointwise judge scores need no section of their own: they are columns of the leaderboards (see
llmrec.judging.attach). A preference is between two runs, so it is a table of its own: for each pair,
task and judge, the win / tie / loss shares of run A with their 95% bootstrap intervals, the swap
consistency and the share of samples whose verdict could not be read.
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path

from llmrec.judging.attach import judgments_of

HEADERS = ["task", "A", "B", "judge", "n", "A wins", "tie", "B wins", "swap consistency", "unread"]
NOTE = ("Pairwise LLM-as-judge (`llmrec judge A B --mode pairwise`): each sample asked in both orders; a verdict "
        "that changes with the order counts as a tie. Shares of all samples with 95% bootstrap CIs; "
        "A wins + tie + B wins + unread = 100%.")


def _share(metric: dict | None) -> str:
    if not metric or not _finite(metric.get("value")):
        return "—"
    text = f"{metric['value'] * 100:.1f}%"
    ci = metric.get("ci")
    if ci and all(_finite(x) for x in ci):
        text += f" [{ci[0] * 100:.1f}, {ci[1] * 100:.1f}]"
    return text


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def rows(report) -> list[list[str]]:
    labels = {r["run_id"]: r.get("label") or r["model"] for r in report.runs}
    out = []
    for run in report.runs:
        for _, judgment in judgments_of(Path(run["path"]).parent):
            runs = judgment.get("runs") or []
            if judgment.get("mode") != "pairwise" or len(runs) != 2 or runs[0].get("run_id") != run["run_id"]:
                continue
            a, b = (labels.get(r.get("run_id")) or r.get("model") or "?" for r in runs)
            for task, entry in judgment["tasks"].items():
                m = entry.get("metrics") or {}
                out.append([task, a, b, str(judgment.get("judge_label")), str(entry.get("n_samples")),
                            _share(m.get("win")), _share(m.get("tie")), _share(m.get("loss")),
                            _share(m.get("swap_consistency")), _share(m.get("parse_failure_rate"))])
    return out


def markdown(report) -> str:
    found = rows(report)
    if not found:
        return ""
    lines = ["## Judge preferences", "", NOTE, "", "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in found]
    return "\n".join(lines) + "\n"


def html(report) -> str:
    found = rows(report)
    if not found:
        return ""
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>" for cells in found)
    return (f"<h2>Judge preferences</h2><p class='note'>{escape(NOTE)}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
