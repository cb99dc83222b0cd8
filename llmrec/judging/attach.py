"""Judge metrics next to a run's own: what `llmrec report` shows and `llmrec check` gates.

`attach_judgments(run)` adds to each judged task of a loaded run (llmrec.reporting.report.load_run)
the metrics of every judgment recorded in its folder, named by judge:

- pointwise: `judge <judge>: <criterion>` (mean 1-5 score) and `judge <judge>: parse_failure_rate`;
- pairwise, on run A: `judge <judge>: win vs <run B's id>`, the share of samples on which the judge
  preferred A's output in both orders (ties, losses and swap consistency are in the report's
  "Judge preferences" section and in judgment.json).

The spaces let a table break a long name; a name ending in `_rate` reads as a validity rate (lower is
better), as the run's own do. Two judgments of one mode by judges of the same name (another template,
revision or decoding) get the start of their folder's hash after the name, `judge <judge>#<hash>: ...`,
so neither hides the other.
"""

from __future__ import annotations

from pathlib import Path

from llmrec.files import read_json
from llmrec.records import SAMPLES_FILE, SampleLog
from llmrec.judging.stage import JUDGMENT_FILE, JUDGMENTS_DIR


JUDGE_PREFIX = "judge "


def is_judge_metric(name: str) -> bool:
    return name.startswith(JUDGE_PREFIX)


def judgments_of(folder: Path) -> list[tuple[Path, dict]]:
    """(judgment folder, judgment.json) of every finished judgment recorded in a run folder, by folder name."""
    root = Path(folder) / JUDGMENTS_DIR
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.glob(f"*/{JUDGMENT_FILE}")):
        try:
            data = read_json(path)
        except Exception:  # an unreadable judgment is not the run's: the run still reports
            continue
        if isinstance(data, dict) and isinstance(data.get("tasks"), dict):
            found.append((path.parent, data))
    return found


def _names(judgments: list[tuple[Path, dict]]) -> list[str]:
    labels = [f"{j.get('mode')}:{j.get('judge_label')}" for _, j in judgments]
    return [f"{JUDGE_PREFIX}{j.get('judge_label')}" + (f"#{folder.name.rsplit('__', 1)[-1][:6]}" if labels.count(lab) > 1
                                                else "")
            for (folder, j), lab in zip(judgments, labels)]


def judge_metrics(folder: Path, run_id: str) -> dict[str, dict[str, dict]]:
    """task -> {metric name: {value, ci}} of the judgments in a run folder (see the module's naming)."""
    judgments = judgments_of(folder)
    out: dict[str, dict[str, dict]] = {}
    for (_, judgment), prefix in zip(judgments, _names(judgments)):
        runs = [r.get("run_id") for r in judgment.get("runs", [])]
        if not runs or runs[0] != run_id:
            continue  # a judgment copied in from another run
        for task, entry in judgment["tasks"].items():
            metrics = entry.get("metrics") or {}
            if judgment.get("mode") == "pairwise":
                chosen = {f"win vs {runs[1]}": metrics.get("win")} if len(runs) > 1 else {}
            else:
                chosen = metrics
            target = out.setdefault(task, {})
            for name, metric in chosen.items():
                if isinstance(metric, dict):
                    target[f"{prefix}: {name}"] = {"value": metric.get("value"), "ci": metric.get("ci")}
    return out


def sample_judge_scores(folder: Path, run_id: str, records: dict[str, list[dict]]) -> dict[str, dict[str, dict]]:
    """task -> sample id -> {`judge <judge>: <criterion>`: score or None} from the pointwise judgments in a run
    folder, for the report's drill-down; `records` are the run's samples by task. A verdict about an output
    the run no longer holds (the run was re-made) is left out."""
    from llmrec.judging.inputs import output_sha256

    judgments = judgments_of(folder)
    outputs = {task: {r["sample_id"]: [output_sha256(_text(r))] for r in recs} for task, recs in records.items()}
    out: dict[str, dict[str, dict]] = {}
    for (path, judgment), prefix in zip(judgments, _names(judgments)):
        runs = [r.get("run_id") for r in judgment.get("runs", [])]
        if judgment.get("mode") != "pointwise" or runs[:1] != [run_id] or not (path / SAMPLES_FILE).is_file():
            continue
        for (task, sample_id), r in SampleLog.read(path / SAMPLES_FILE).records.items():
            if r.get("output_sha256") == outputs.get(task, {}).get(sample_id):
                scores = out.setdefault(task, {}).setdefault(sample_id, {})
                scores.update({f"{prefix}: {c}": v for c, v in (r.get("scores") or {}).items()})
    return out


def _text(record: dict) -> str:
    value = (record.get("prediction") or {}).get("value")
    return value if isinstance(value, str) else ""


def attach_judgments(run: dict) -> dict:
    """Add the judge metrics recorded next to a run's metrics.json to its tasks; returns the run."""
    from llmrec.reporting.report import _normalise_metric

    file = Path(run["path"])
    if file.name != "metrics.json":
        return run  # a baseline file holds its judge metrics itself
    for task, metrics in judge_metrics(file.parent, run["run_id"]).items():
        if task in run["tasks"]:
            for name, metric in metrics.items():
                _normalise_metric(metric)
                run["tasks"][task]["metrics"].setdefault(name, metric)
            run.setdefault("judged", True)
    return run
