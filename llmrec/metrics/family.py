"""What a metric family is: the metrics of one task kind, computed from per-sample sufficient statistics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from llmrec.types import Prediction


@dataclass(frozen=True)
class MetricFamily:
    """The metrics of one task kind (rating, ranking, text).

    `to_stats` turns predictions and references into one row of sufficient statistics per sample;
    `to_values` turns summed rows (one row per corpus or bootstrap resample) into {metric: array}, so
    the corpus value and every resample come from the same sums. `per_sample` is one sample's own
    scores, for the per-sample log and paired comparisons."""

    name: str
    description: str
    metrics: tuple[str, ...]  # in the order results list them
    lower_is_better: frozenset[str]
    to_stats: Callable[[Sequence[Prediction], Sequence[Any]], np.ndarray]
    to_values: Callable[[np.ndarray], dict[str, np.ndarray]]
    per_sample: Callable[[Prediction, Any], dict[str, float]]
