"""Every leaderboard as flat data: one record per run x task x metric, as CSV or a JSON list.

The records follow the leaderboards (llmrec.reporting.groups) cell by cell: leaderboards in the report's
order, then protocol blocks, rows best first, metrics in column order. Each record holds the metric's
value and 95% CI bounds, where its row sits (`protocol`: the block's letter, `position` within it,
`best`: marked best among comparable rows), the row's n and settings, and the task entry's protocol keys
(llmrec.protocol.PROTOCOL_KEYS), so a spreadsheet can keep to records that may be compared.
"""

from __future__ import annotations

import csv
import io
import json

from llmrec.protocol import PROTOCOL_KEYS
from llmrec.reporting.groups import Cell, Report

COLUMNS = ("run_id", "model", "label", "task", "metric", "value", "ci_lo", "ci_hi", "protocol", "position", "best",
           "n", "settings", *PROTOCOL_KEYS)


def records(runs: list[dict]) -> list[dict]:
    """One record per leaderboard cell that holds a recorded metric; a key an entry lacks is None."""
    rows = []
    for group in Report(runs).groups:
        for block in group.blocks:
            for position, row in enumerate(block.rows, start=1):
                for name in group.quality + group.validity:
                    metric = row.metrics.get(name)
                    if metric is None:
                        continue
                    ci = metric.get("ci") or (None, None)
                    rows.append({"run_id": row.run_id, "model": row.run["model"], "label": row.label,
                                 "task": group.task, "metric": name, "value": metric.get("value"), "ci_lo": ci[0],
                                 "ci_hi": ci[1], "protocol": block.letter if block.known else "unknown",
                                 "position": position, "best": Cell(block, row, name).best, "n": row.n,
                                 "settings": row.settings_text(), **{key: row.entry.get(key) for key in PROTOCOL_KEYS}})
    return rows


def csv_text(runs: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records(runs))  # None is written as an empty cell
    return out.getvalue()


def json_text(runs: list[dict]) -> str:
    return json.dumps(records(runs), indent=2)
