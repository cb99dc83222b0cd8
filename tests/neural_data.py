"""Prepared datasets made in code for the neural recommenders' tests: sequences with an obvious pattern."""

from __future__ import annotations

import numpy as np
import pandas as pd

from llmrec.data.model import Prepared


def pattern_prepared(n_items: int = 30, n_users: int = 90, length: int = 12, step: int = 1,
                     categories: list[str] | None = None, seed: int = 0) -> Prepared:
    """User u's items are a run from a random start, each the previous one plus `step` (mod n_items, ids 1..n):
    the next item is always obvious from the last. The last item is test, the one before valid."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(1, n_users + 1):
        start = int(rng.integers(n_items))
        for j in range(length):
            split = "test" if j == length - 1 else "valid" if j == length - 2 else "train"
            rows.append((user, (start + j * step) % n_items + 1, 4.0, 1000 * user + j, split))
    inter = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp", "split"])
    return prepared_from(inter, n_items, categories)


def prepared_from(inter: pd.DataFrame, n_items: int, categories: list[str] | None = None) -> Prepared:
    items = pd.DataFrame({"title": [f"item {i}" for i in range(1, n_items + 1)],
                          "category": categories or [""] * n_items,
                          "source_id": [str(i) for i in range(1, n_items + 1)]},
                         index=pd.Index(range(1, n_items + 1), name="item"))
    n_users = int(inter["user"].max())
    rng = np.random.default_rng(1)
    negatives = np.zeros((n_users + 1, 9), np.int64)
    for user, seen in inter.groupby("user")["item"]:
        pool = np.setdiff1d(np.arange(1, n_items + 1), seen.to_numpy())
        negatives[user] = rng.choice(pool, 9, replace=len(pool) < 9)
    empty = pd.DataFrame(columns=["user", "item", "rating", "timestamp", "text", "summary", "explanation", "split"])
    return Prepared("pattern", "pattern", 0, items, inter, inter.copy(), empty, negatives)
