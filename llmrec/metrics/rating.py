"""Rating prediction: RMSE and MAE of the clamped predictions over the parsed answers, and coverage."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from llmrec.metrics.family import MetricFamily
from llmrec.types import Prediction

RATING_RANGE = (1.0, 5.0)


def clamp_rating(value: float) -> float:
    return float(min(max(value, RATING_RANGE[0]), RATING_RANGE[1]))


def rmse(predicted: Sequence[float], reference: Sequence[float]) -> float:
    diff = np.asarray(predicted, dtype=float) - np.asarray(reference, dtype=float)
    return float(np.sqrt(np.mean(diff ** 2))) if diff.size else math.nan


def mae(predicted: Sequence[float], reference: Sequence[float]) -> float:
    diff = np.asarray(predicted, dtype=float) - np.asarray(reference, dtype=float)
    return float(np.mean(np.abs(diff))) if diff.size else math.nan


def rating_stats(predictions: Sequence[Prediction], references: Sequence[float]) -> np.ndarray:
    """Per sample: [1, parsed, squared error, absolute error, parse_failed]; errors are 0 when unparsed."""
    rows = []
    for p, ref in zip(predictions, references):
        parsed = p.value is not None and not p.parse_failed and math.isfinite(float(p.value))
        error = clamp_rating(float(p.value)) - float(ref) if parsed else 0.0
        rows.append([1.0, float(parsed), error ** 2, abs(error), float(p.parse_failed)])
    return np.array(rows, dtype=float).reshape(-1, 5)


def rating_values(s: np.ndarray) -> dict[str, np.ndarray]:
    count, parsed, squared, absolute, failed = s.T
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"rmse": np.where(parsed > 0, np.sqrt(squared / parsed), np.nan),
                "mae": np.where(parsed > 0, absolute / parsed, np.nan),
                "coverage": parsed / count, "parse_failure_rate": failed / count}


def rating_per_sample(prediction: Prediction, reference: float) -> dict[str, float]:
    """{"parsed"}, and the errors of the clamped value when it parsed."""
    row = rating_stats([prediction], [reference])[0]
    if not row[1]:
        return {"parsed": 0.0}
    return {"parsed": 1.0, "abs_error": float(row[3]), "squared_error": float(row[2])}


RATING = MetricFamily(
    name="rating",
    description="RMSE and MAE of predictions clamped to [1, 5], over parsed answers; coverage",
    metrics=("rmse", "mae", "coverage", "parse_failure_rate"),
    lower_is_better=frozenset({"rmse", "mae", "parse_failure_rate"}),
    to_stats=rating_stats, to_values=rating_values, per_sample=rating_per_sample,
)
