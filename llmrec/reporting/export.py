"""Run records as flat data: one record per run x task x metric, as CSV or a JSON list.

Each record holds the metric's value and 95% CI bounds and the task entry's protocol keys
(llmrec.protocol.PROTOCOL_KEYS), so a spreadsheet can filter to rows that may be compared.
"""

from __future__ import annotations

import csv
import io
import json

from llmrec.protocol import PROTOCOL_KEYS

COLUMNS = ("run_id", "model", "label", "task", "metric", "value", "ci_lo", "ci_hi", *PROTOCOL_KEYS)


def records(runs: list[dict]) -> list[dict]:
    """Runs in the order given, tasks and metrics in the order recorded; a key a run lacks is None."""
    rows = []
    for run in runs:
        for task, entry in run["tasks"].items():
            for name, metric in entry["metrics"].items():
                ci = metric.get("ci") or (None, None)
                rows.append({"run_id": run["run_id"], "model": run["model"], "label": run.get("label", run["model"]),
                             "task": task, "metric": name, "value": metric.get("value"), "ci_lo": ci[0],
                             "ci_hi": ci[1], **{key: entry.get(key) for key in PROTOCOL_KEYS}})
    return rows


def csv_text(runs: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records(runs))  # None is written as an empty cell
    return out.getvalue()


def json_text(runs: list[dict]) -> str:
    return json.dumps(records(runs), indent=2)
