"""Agreement between an LLM judge (`llmrec judge`) and the annotators of a sheet.

A pointwise judgment is recorded inside the judged run's folder, as llmrec.judging writes it:
`judgments/<name>/judgment.json` (mode, judge, the judged run, tasks) and `judgments/<name>/samples.jsonl`
(per sample: `scores`, criterion -> 1-5 or null when the reply could not be read, and `output_sha256`, the
SHA-256 of each judged output). A record whose output has changed since (the run was re-made) is stale and
left out. A judge is compared only when it judged every run of the sheet.

Each human score column is set against the judge criterion of the same name, and the human ranks against
the judge's mean over its criteria (the "rank" row, in both modes). Statistics: llmrec.humaneval.stats
(Spearman's rho over outputs, and pairwise agreement within items).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from llmrec.errors import LLMRecError
from llmrec.humaneval import stats

if TYPE_CHECKING:
    from llmrec.humaneval.results import Annotations, JudgeAgreement, Unit

JUDGMENTS_DIR, JUDGMENT_FILE = "judgments", "judgment.json"  # the judge stage's layout inside a run folder
JudgeScores = dict[str, dict[str, float]]  # sample_id -> criterion -> score


def judge_scores(run_folder: Path, task: str) -> dict[str, JudgeScores]:
    """judge name -> the pointwise scores it recorded for the run's task (fresh records only)."""
    from llmrec.files import read_json
    from llmrec.humaneval.sheet import output_text
    from llmrec.records import SAMPLES_FILE, SampleLog
    from llmrec.reporting.compare import read_samples
    from llmrec.reporting.report import load_run

    files = sorted((Path(run_folder) / JUDGMENTS_DIR).glob(f"*/{JUDGMENT_FILE}"))
    if not files:
        return {}
    run = load_run(Path(run_folder))
    outputs = {sid: [_sha256(output_text(r))] for sid, r in read_samples(run, task).items()}
    found: dict[str, JudgeScores] = {}
    for file in files:
        try:
            judgment = read_json(file)
            log = SampleLog.read(file.parent / SAMPLES_FILE)
        except LLMRecError:
            continue  # an unreadable judgment is skipped, as the report skips it
        if not _judges(judgment, task, run["run_id"]):
            continue
        scores = {sid: {c: float(v) for c, v in (r.get("scores") or {}).items() if isinstance(v, (int, float))}
                  for (t, sid), r in log.records.items() if t == task and r.get("output_sha256") == outputs.get(sid)}
        name = str(judgment.get("judge_label") or judgment.get("judge") or file.parent.name)
        found[name if name not in found else f"{name}#{file.parent.name.rsplit('__', 1)[-1][:6]}"] = scores
    return found


def _judges(judgment, task: str, run_id: str) -> bool:
    """Whether a judgment.json holds pointwise scores of this run's task (not of a run it was copied from)."""
    if not isinstance(judgment, dict) or judgment.get("mode") != "pointwise":
        return False
    runs = judgment.get("runs") or [{}]
    return task in (judgment.get("tasks") or {}) and isinstance(runs[0], dict) and runs[0].get("run_id") == run_id


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def judge_agreement(data: "Annotations", ranks: dict[str, dict["Unit", float]]) -> tuple[list["JudgeAgreement"],
                                                                                       list[str]]:
    task = data.key["task"]
    per_run = [judge_scores(Path(run["path"]), task) for run in data.key["runs"]]  # the run folders
    judges = [name for name in per_run[0] if all(name in found for found in per_run[1:])]
    if not judges:
        return [], [f"no judge judged every run's {task} outputs (`llmrec judge` records pointwise scores): "
                    "judge-vs-human agreement skipped"]
    sample_of = {int(i["item"]): i["sample_id"] for i in data.key["items"]}
    results, notes = [], []
    for judge in judges:
        def judged(unit: "Unit", criterion: str | None, judge: str = judge) -> float | None:
            scores = per_run[data.run_of(unit)][judge].get(sample_of[unit[0]], {})
            values = [v for c, v in scores.items() if criterion is None or c == criterion]
            return float(np.mean(values)) if values else None

        rows = [r for r in judge_rows(data, ranks, judge, judged) if r.n_units]
        if not rows:
            fresh = any(sample_of[i] in per_run[run][judge] for i, slots in data.slots.items() for run in slots.values())
            why = ("no reply could be read as a score (the judgment counts them as parse failures)" if fresh
                   else "its records are of earlier outputs: run `llmrec judge` again")
            notes.append(f"judge {judge}: nothing to compare with the annotators, {why}")
        results += rows
    return results, notes


def judge_rows(data: "Annotations", ranks: dict[str, dict["Unit", float]], judge: str,
               judged: Callable[["Unit", str | None], float | None]) -> list["JudgeAgreement"]:
    from llmrec.humaneval.results import item_means

    rows = []
    if data.mode == "score":
        for column in data.columns:
            rows.append(_agreement(judge, column, column, item_means(data.values[column]),
                                   lambda u, c=column: judged(u, c)))
    human_ranks = {u: -r for u, r in item_means(ranks).items()}  # negated: higher is better, as for scores
    rows.append(_agreement(judge, "rank", "mean of criteria", human_ranks, lambda u: judged(u, None)))
    return rows


def _agreement(judge: str, column: str, criterion: str, human: dict["Unit", float], score) -> "JudgeAgreement":
    from llmrec.humaneval.results import JudgeAgreement

    pairs = {u: (h, score(u)) for u, h in sorted(human.items())}
    pairs = {u: (h, j) for u, (h, j) in pairs.items() if j is not None}
    rho, p = stats.spearman([h for h, _ in pairs.values()], [j for _, j in pairs.values()])
    by_item: dict[int, list[tuple[float, float]]] = {}
    for (item, _), pair in pairs.items():
        by_item.setdefault(item, []).append(pair)
    share, n_pairs = stats.pairwise_agreement(([h for h, _ in v], [j for _, j in v]) for v in by_item.values())
    return JudgeAgreement(judge, column, criterion, rho, p, len(pairs), share, n_pairs)
