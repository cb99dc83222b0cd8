"""Judge metrics from per-sample verdicts, each with a seeded 95% percentile-bootstrap interval over samples.

Pointwise: the mean 1-5 score of each criterion over the verdicts that could be read (unread verdicts
are left out of the mean, as RMSE leaves out unparsed ratings) and `parse_failure_rate`, the share of
all verdicts (samples x criteria) that could not be read.

Pairwise, A against B on the same samples, each asked in both orders (A shown first, then B first):
a sample whose two verdicts agree (once mapped back to the runs) gets that verdict; two that disagree
cancel out into a tie (MT-Bench's conservative rule: a preference that follows the position is none).
`win`, `tie` and `loss` are shares of all samples, and `parse_failure_rate` the share whose verdict
could not be read in one order or both, so win + tie + loss + parse_failure_rate = 1: nothing is dropped.
`swap_consistency` is the share of samples read in both orders whose two verdicts agree.

The statistics are sums over samples, so the bootstrap resamples samples (llmrec.metrics.bootstrap)
and every resample keeps a sample's criteria, or both of its orders, together.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from llmrec.metrics.bootstrap import resampled_sums, total_sums

N_BOOT = 1000
PAIRWISE_METRICS = ("win", "tie", "loss", "swap_consistency", "parse_failure_rate")
OUTCOME = {"A": "win", "B": "loss", "tie": "tie"}  # a verdict for run A, run B, or neither


def _interval(draws: np.ndarray) -> list[float]:
    if np.isnan(draws).all():
        return [math.nan, math.nan]
    return [float(x) for x in np.nanpercentile(draws, [2.5, 97.5])]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _scored(stats: np.ndarray, values, names: Sequence[str], seed: int, n_boot: int) -> dict[str, dict]:
    if not stats.shape[0]:
        return {name: {"value": math.nan, "ci": [math.nan, math.nan]} for name in names}
    total = values(total_sums(stats))
    boot = values(resampled_sums(stats, n_boot, seed))
    return {name: {"value": float(total[name][0]), "ci": _interval(boot[name])} for name in names}


def pointwise_metrics(scores: Sequence[dict[str, int | None]], criteria: Sequence[str], *, seed: int,
                      n_boot: int = N_BOOT) -> dict[str, dict]:
    """criterion -> mean score, and parse_failure_rate; `scores` holds one {criterion: score or None} per sample."""
    criteria = list(criteria)
    # per sample: (sum of scores, verdicts read) per criterion, then verdicts unread
    stats = np.array([[v for c in criteria for v in ((s.get(c) or 0), s.get(c) is not None)]
                      + [sum(s.get(c) is None for c in criteria)] for s in scores], dtype=float)
    stats = stats.reshape(len(scores), 2 * len(criteria) + 1)

    def values(sums: np.ndarray) -> dict[str, np.ndarray]:
        out = {c: _ratio(sums[:, 2 * i], sums[:, 2 * i + 1]) for i, c in enumerate(criteria)}
        out["parse_failure_rate"] = sums[:, -1] / (len(criteria) * len(scores))
        return out

    return _scored(stats, values, [*criteria, "parse_failure_rate"], seed, n_boot)


def pairwise_outcome(first: str | None, second: str | None) -> tuple[str | None, bool | None]:
    """(outcome for run A: win | tie | loss, or None when unread; whether the two orders agree, or None).

    `first` is the verdict with A's output shown first, `second` with B's shown first, both already
    mapped back to the runs ("A": run A's output is better, "B": run B's, "tie")."""
    if first is None or second is None:
        return None, None
    if first == second:
        return OUTCOME[first], True
    return "tie", False


def pairwise_metrics(outcomes: Sequence[tuple[str | None, bool | None]], *, seed: int,
                     n_boot: int = N_BOOT) -> dict[str, dict]:
    """win, tie, loss, swap_consistency and parse_failure_rate from one pairwise_outcome per sample."""
    stats = np.array([[o == "win", o == "tie", o == "loss", o is None, consistent is not None, bool(consistent)]
                      for o, consistent in outcomes], dtype=float).reshape(len(outcomes), 6)
    n = len(outcomes)

    def values(sums: np.ndarray) -> dict[str, np.ndarray]:
        return {"win": sums[:, 0] / n, "tie": sums[:, 1] / n, "loss": sums[:, 2] / n,
                "parse_failure_rate": sums[:, 3] / n, "swap_consistency": _ratio(sums[:, 5], sums[:, 4])}

    return _scored(stats, values, PAIRWISE_METRICS, seed, n_boot)
