"""Agreement between an LLM judge (`llmrec judge`, llmrec.judging) and the annotators of a sheet.

The judge's pointwise 1-5 scores of the sheet's runs are read from their per-sample judge records; each
human column is set against the judge criterion of the same name (score mode), and the human ranks
against the judge's mean score over its criteria (rank mode, and the score mode's "rank" row). Statistics:
llmrec.humaneval.stats.spearman and pairwise_agreement. Runs without judge records are skipped with a note.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from llmrec.humaneval import stats

if TYPE_CHECKING:
    from llmrec.humaneval.results import Annotations, JudgeAgreement, Unit

JudgeScores = dict[str, dict[str, float]]  # sample_id -> criterion -> score


def judge_scores(run_folder: Path, task: str) -> JudgeScores | None:
    """The pointwise judge scores recorded for a run's task, or None when it has none (or no judge stage)."""
    try:
        from llmrec.judging import pointwise_scores
    except ImportError:
        return None
    return pointwise_scores(run_folder, task) or None


def judge_agreement(data: "Annotations", ranks: dict[str, dict["Unit", float]]) -> tuple[list["JudgeAgreement"],
                                                                                       list[str]]:
    task = data.key["task"]
    per_run = [judge_scores(Path(run["path"]), task) for run in data.key["runs"]]  # the run folders
    missing = [run["label"] for run, scores in zip(data.key["runs"], per_run) if scores is None]
    if missing:
        return [], [f"no judge scores for {task} in {', '.join(missing)} (`llmrec judge` records them): "
                    "judge-vs-human agreement skipped"]
    sample_of = {int(i["item"]): i["sample_id"] for i in data.key["items"]}

    def judged(unit: "Unit", criterion: str | None) -> float | None:
        scores = per_run[data.run_of(unit)].get(sample_of[unit[0]], {})
        values = [v for c, v in scores.items() if (criterion is None or c == criterion) and v is not None]
        return float(np.mean(values)) if values else None

    from llmrec.humaneval.results import item_means

    results = []
    if data.mode == "score":
        for column in data.columns:
            results.append(_agreement(column, column, item_means(data.values[column]),
                                      lambda u, c=column: judged(u, c)))
    human_ranks = {u: -r for u, r in item_means(ranks).items()}  # negated: higher is better, as for scores
    results.append(_agreement("rank", "mean of criteria", human_ranks, lambda u: judged(u, None)))
    return [r for r in results if r.n_units], []


def _agreement(column: str, criterion: str, human: dict["Unit", float], judge) -> "JudgeAgreement":
    from llmrec.humaneval.results import JudgeAgreement

    pairs = {u: (h, judge(u)) for u, h in sorted(human.items())}
    pairs = {u: (h, j) for u, (h, j) in pairs.items() if j is not None}
    rho, p = stats.spearman([h for h, _ in pairs.values()], [j for _, j in pairs.values()])
    by_item: dict[int, list[tuple[float, float]]] = {}
    for (item, _), pair in pairs.items():
        by_item.setdefault(item, []).append(pair)
    share, n_pairs = stats.pairwise_agreement(([h for h, _ in v], [j for _, j in v]) for v in by_item.values())
    return JudgeAgreement(column, criterion, rho, p, len(pairs), share, n_pairs)
