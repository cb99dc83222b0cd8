"""Ranking with one relevant item per sample: HR@k, NDCG@k, MRR in two views, and the invalid-answer rates."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from llmrec.metrics.family import MetricFamily
from llmrec.types import Prediction

RANKING_CUTOFFS = (1, 5, 10)
RANKING_QUALITY = ("hr@1", "hr@5", "hr@10", "ndcg@5", "ndcg@10", "mrr")
# The strict view of a generated ranking: only a well-formed list answer scores (Prediction.well_formed);
# strict_parse_failure_rate is the share of answers that are not one. The plain names are the refined view.
STRICT_QUALITY = tuple(f"strict_{name}" for name in RANKING_QUALITY)
STRICT_RANKING = (*STRICT_QUALITY, "strict_parse_failure_rate")
MENTION_RATES = ("hallucination_rate", "out_of_candidate_rate", "duplicate_rate")


def rank_of(ranked: Sequence[Any] | None, target: Any) -> int | None:
    """1-based position of `target` in `ranked`, None when absent (or nothing was ranked)."""
    for position, item in enumerate(ranked or (), start=1):
        if item == target:
            return position
    return None


def hit_at_k(rank: int | None, k: int) -> float:
    return 1.0 if rank is not None and rank <= k else 0.0


def ndcg_at_k(rank: int | None, k: int) -> float:
    """With one relevant item the ideal DCG is 1, so NDCG@k = 1/log2(rank + 1) within the cut-off."""
    return 1.0 / math.log2(rank + 1) if rank is not None and rank <= k else 0.0


def reciprocal_rank(rank: int | None) -> float:
    return 1.0 / rank if rank is not None else 0.0


def _mentions(p: Prediction) -> list[float]:
    kept = len(p.value or ())
    return [kept + p.hallucinated + p.out_of_candidates + p.duplicates,
            p.hallucinated, p.out_of_candidates, p.duplicates]


def _ranking_row(p: Prediction, target: Any, strict: bool = False) -> list[float]:
    """hr@1/5/10, ndcg@5/10, mrr of one answer; strict: 0 unless the answer was a well-formed list."""
    usable = not p.parse_failed and (p.well_formed or not strict)
    rank = rank_of(p.value, target) if usable else None
    return ([hit_at_k(rank, k) for k in RANKING_CUTOFFS] + [ndcg_at_k(rank, k) for k in (5, 10)]
            + [reciprocal_rank(rank)])


def ranking_stats(predictions: Sequence[Prediction], references: Sequence[Any]) -> np.ndarray:
    """Per sample: count, the refined view's 6 scores, parse failure, 4 mention counts (kept +
    invalid, hallucinated, out of candidates, duplicates), the strict view's 6 scores, strict failure."""
    rows = [[1.0, *_ranking_row(p, t), float(p.parse_failed), *_mentions(p),
             *_ranking_row(p, t, strict=True), float(p.parse_failed or not p.well_formed)]
            for p, t in zip(predictions, references)]
    return np.array(rows, dtype=float).reshape(-1, 19)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), 0.0)


def ranking_values(s: np.ndarray) -> dict[str, np.ndarray]:
    count = s[:, 0]
    names = (*RANKING_QUALITY, "parse_failure_rate")
    values = {name: s[:, 1 + i] / count for i, name in enumerate(names)}
    mentions = s[:, 8]
    for i, name in enumerate(MENTION_RATES):
        values[name] = _ratio(s[:, 9 + i], mentions)
    for i, name in enumerate(STRICT_RANKING):
        values[name] = s[:, 12 + i] / count
    return values


def ranking_per_sample(prediction: Prediction, target: Any) -> dict[str, float]:
    """hr@k, ndcg@k, mrr in both views, the strict one under strict_ names (0 unless a well-formed list)."""
    scores = [*_ranking_row(prediction, target), *_ranking_row(prediction, target, strict=True)]
    return dict(zip((*RANKING_QUALITY, *STRICT_QUALITY), map(float, scores), strict=True))


RANKING = MetricFamily(
    name="ranking",
    description="HR@1/5/10, NDCG@5/10, MRR of the one target, refined and strict views; invalid-mention rates",
    metrics=(*RANKING_QUALITY, *STRICT_RANKING, "parse_failure_rate", *MENTION_RATES),
    lower_is_better=frozenset({"parse_failure_rate", "strict_parse_failure_rate", *MENTION_RATES}),
    to_stats=ranking_stats, to_values=ranking_values, per_sample=ranking_per_sample,
)
