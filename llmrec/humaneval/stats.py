"""Statistics on annotations: means with item-bootstrap CIs, ranks, agreement among annotators and with a judge.

Conventions. A *unit* is one output: (item, slot). Scores are 1-5, higher is better; ranks start at 1 for
the best output of an item, and tied outputs share the mean of the ranks they span (1, 2.5, 2.5).

- Mean per system: each item's value is the mean over the annotators who rated it; the system's mean is the
  mean of those over items, and its 95% CI the percentile interval of that mean over items drawn with
  replacement (the item is the unit of resampling: one item's annotations share its sample, so they are
  not independent draws).
- Inter-annotator agreement: Krippendorff's alpha over the (annotator x unit) matrix, computed by the
  `krippendorff` package: alpha = 1 - D_o / D_e, the observed disagreement among the values given to the
  same unit over the disagreement expected among all pairable values. Ordinal (a Likert scale's or a
  ranking's order, not its spacing) is the headline; interval is given for scores too. Units rated by one
  annotator pair with nothing and are left out, as the definition says.
- Judge vs humans: Spearman's rho between the judge's score of each unit and the annotators' mean, and the
  pairwise agreement: over pairs of outputs of the same item that both the judge and the annotators order
  strictly, the share they order the same way.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from llmrec.metrics import resampled_sums

N_BOOT = 2000
LEVELS = ("ordinal", "interval")


def mean_ci(values: Sequence[float], n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float, float]:
    """The mean of `values` and the 95% percentile-bootstrap interval of it (NaN, NaN, NaN when empty)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    means = resampled_sums(x[:, None], n_boot, seed)[:, 0] / x.size
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(x.mean()), float(lo), float(hi)


def ranks_of(scores: Sequence[float]) -> list[float]:
    """Ranks of scores within one item, 1 for the highest; ties share their mean rank."""
    from scipy.stats import rankdata

    return [float(r) for r in rankdata([-s for s in scores], method="average")]


def krippendorff_alpha(matrix: np.ndarray, level: str, value_domain: Sequence[float] | None = None) -> float | None:
    """Krippendorff's alpha of an (annotators x units) matrix with NaN for a missing value; None when fewer
    than two values are pairable (no unit has two) or every pairable value is the same (D_e = 0)."""
    import krippendorff

    matrix = np.asarray(matrix, dtype=float)
    pairable = (np.sum(~np.isnan(matrix), axis=0) >= 2)
    if not pairable.any():
        return None
    values = matrix[:, pairable]
    if np.unique(values[~np.isnan(values)]).size < 2:
        return None
    kwargs = {"value_domain": list(value_domain)} if value_domain is not None and level == "ordinal" else {}
    return float(krippendorff.alpha(reliability_data=values, level_of_measurement=level, **kwargs))


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float | None, float | None]:
    """Spearman's rho and its two-sided p-value; None, None when fewer than 3 pairs or a side is constant."""
    from scipy.stats import spearmanr

    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None, None
    result = spearmanr(x, y)
    return float(result.statistic), float(result.pvalue)


def pairwise_agreement(groups: Iterable[tuple[Sequence[float], Sequence[float]]]) -> tuple[float | None, int]:
    """Share of within-group pairs that two raters order the same way, over pairs both order strictly.

    Each group is one item: (rater 1's values, rater 2's values) for its outputs, higher meaning better
    for both. Returns (share, number of pairs counted); share is None when no pair counted."""
    same = counted = 0
    for a, b in groups:
        for i in range(len(a)):
            for j in range(i + 1, len(a)):
                da, db = a[i] - a[j], b[i] - b[j]
                if da != 0 and db != 0:
                    counted += 1
                    same += (da > 0) == (db > 0)
    return (same / counted if counted else None), counted
