"""Metrics of the three task kinds, with percentile-bootstrap confidence intervals. Pure functions.

Each task kind has a metric family (`family(kind)`, listed in FAMILIES): rating.py (RMSE, MAE,
coverage), ranking.py (HR@k, NDCG@k, MRR, invalid-answer rates), text.py (BLEU, ROUGE). Every metric
is a function of per-sample sufficient statistics summed over samples (errors, hits, n-gram
matches, mention counts). The corpus value uses the sums over all samples; each bootstrap resample
(bootstrap.py) uses the sums over a resample of samples, so corpus-level BLEU and ratio metrics
(RMSE, rates) are resampled correctly, not averaged per sample.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from llmrec.metrics.bootstrap import resampled_sums, total_sums
from llmrec.metrics.family import MetricFamily
from llmrec.metrics.ranking import (RANKING, RANKING_CUTOFFS, RANKING_QUALITY, STRICT_QUALITY, STRICT_RANKING,
                                    hit_at_k, ndcg_at_k, rank_of, reciprocal_rank)
from llmrec.metrics.rating import RATING, RATING_RANGE, clamp_rating, mae, rmse
from llmrec.metrics.text import (BLEU_ORDER, ROUGE_NAMES, TEXT, UnicodeTokenizer, bleu_from_stats, bleu_stats,
                                 corpus_bleu, p5_rouge, p5_rouge_l, p5_rouge_n, p5_tokens, rouge_f1, rouge_scores)
from llmrec.registry import Registry
from llmrec.types import Prediction

METRICS_VERSION = 2
"""Version of the metric definitions. Bump it when a metric's definition changes; runs record it, and
numbers from different versions are not comparable. 2: rouge-* tokenize Unicode text, p5-rouge-* added,
ranking answers read in two views (refined: titles out of prose; strict_*: well-formed lists only)."""

FAMILIES: Registry[MetricFamily] = Registry("metric family")
for _family in (RATING, RANKING, TEXT):
    FAMILIES.add(_family.name, _family, _family.description)

KINDS = tuple(FAMILIES.names())
METRICS = {entry.name: entry.value.metrics for entry in FAMILIES.entries()}
LOWER_IS_BETTER: frozenset[str] = frozenset().union(*(entry.value.lower_is_better for entry in FAMILIES.entries()))


def family(kind: str) -> MetricFamily:
    """The metric family of a task kind; an unknown kind is an LLMRecError naming the nearest one."""
    return FAMILIES.get(kind)


def score(kind: str, predictions: list[Prediction], references: list, *, seed: int = 0,
          n_boot: int = 1000) -> dict[str, dict]:
    """All metrics of one task kind with 95% percentile-bootstrap intervals over samples.

    kind in {"rating", "ranking", "text"}. References are ratings (float), target item ids, or
    texts; Prediction.value is a float|None, a ranked list of item ids, or str|None. Unparsed
    answers are never dropped: they score 0 in ranking, empty text in text, and lower `coverage`
    in rating (RMSE/MAE are over parsed answers; NaN when none parsed). Returns
    {metric: {"value": float, "ci": [lo, hi]}} with plain floats, for every name in METRICS[kind].
    """
    metrics = family(kind)
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    stats = metrics.to_stats(predictions, references)
    if stats.shape[0] == 0:
        return {name: {"value": math.nan, "ci": [math.nan, math.nan]} for name in metrics.metrics}
    values = metrics.to_values(total_sums(stats))
    boot = metrics.to_values(resampled_sums(stats, n_boot, seed)) if n_boot > 0 else None
    result = {}
    for name in metrics.metrics:
        value = float(values[name][0])
        if boot is None or np.isnan(boot[name]).all():
            ci = [math.nan, math.nan]  # no resamples asked for, or no resample defines the metric
        else:
            # RMSE/MAE are undefined on a resample without parsed answers: those resamples are skipped.
            ci = [float(x) for x in np.nanpercentile(boot[name], [2.5, 97.5])]
        result[name] = {"value": value, "ci": ci}
    return result


def per_sample_scores(kind: str, prediction: Prediction, reference: Any) -> dict[str, float]:
    """The sample's own contribution, for per-sample logs and paired comparisons (ranking: both views,
    the strict one under strict_ names: 0 unless the answer was a well-formed list).

    rating: {"parsed", "abs_error", "squared_error"} (errors only when parsed, on the clamped value);
    ranking: hr@k, ndcg@k, mrr; text: every ROUGE_NAMES score and sentence-level bleu-1/bleu-4
    (unsmoothed)."""
    return family(kind).per_sample(prediction, reference)


__all__ = [
    "BLEU_ORDER", "FAMILIES", "KINDS", "LOWER_IS_BETTER", "METRICS", "METRICS_VERSION", "MetricFamily",
    "RANKING_CUTOFFS", "RANKING_QUALITY", "RATING_RANGE", "ROUGE_NAMES", "STRICT_QUALITY", "STRICT_RANKING",
    "UnicodeTokenizer", "bleu_from_stats", "bleu_stats", "clamp_rating", "corpus_bleu", "family", "hit_at_k",
    "mae", "ndcg_at_k", "p5_rouge", "p5_rouge_l", "p5_rouge_n", "p5_tokens", "per_sample_scores", "rank_of",
    "reciprocal_rank", "resampled_sums", "rmse", "rouge_f1", "rouge_scores", "score", "total_sums",
]
