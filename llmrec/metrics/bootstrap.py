"""Sums of per-sample sufficient statistics over all samples and over bootstrap resamples of them.

Every metric is a function of such sums, so corpus-level BLEU and ratio metrics (RMSE, rates) are
resampled correctly, not averaged per sample.
"""

from __future__ import annotations

import numpy as np


def _shifted(stats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Statistics minus the first row, and that row. Summing deviations and adding n * row back is
    exact when all samples are equal, so such a metric gets a degenerate interval [v, v]."""
    origin = stats[0].copy()
    return stats - origin, origin


def total_sums(stats: np.ndarray) -> np.ndarray:
    """Column sums of per-sample statistics (n, d) -> (1, d), summed as `resampled_sums` does."""
    deviations, origin = _shifted(stats)
    return deviations.sum(axis=0, keepdims=True) + stats.shape[0] * origin


def resampled_sums(stats: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Column sums of `stats` over `n_boot` resamples (with replacement) of its rows: (n_boot, d).

    Each resample is a row of counts (how often each sample was drawn), so the sums are one matrix
    product; resamples are processed in chunks to bound memory on large sample sets."""
    n = stats.shape[0]
    deviations, origin = _shifted(stats)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, 2_000_000 // max(n, 1)))
    out = np.empty((n_boot, stats.shape[1]))
    for start in range(0, n_boot, chunk):
        rows = min(chunk, n_boot - start)
        draws = rng.integers(0, n, size=(rows, n)) + n * np.arange(rows)[:, None]  # offset per resample
        counts = np.bincount(draws.ravel(), minlength=rows * n).reshape(rows, n).astype(float)
        out[start:start + rows] = counts @ deviations + n * origin
    return out

