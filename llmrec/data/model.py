"""One in-memory model for every source: a catalog, timestamped interactions, reviews.

Loaders return a `Dataset` in the source's own ids; `prepare.py` turns it into a
`Prepared` split with remapped integer ids, fixed negatives and split labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

# Column contracts (loaders must produce exactly these dtypes; extra columns are ignored, but for the optional
# int64 "timestamp_ms" of Amazon sources, which the amazon split protocols order and label by, and the optional
# str "brand" of items, present when the source names a brand (or an Amazon 2023 store) for some item).
ITEM_COLUMNS = {"item_id": str, "title": str, "category": str}
INTERACTION_COLUMNS = {"user_id": str, "item_id": str, "rating": float, "timestamp": "int64"}
REVIEW_COLUMNS = {
    "user_id": str,
    "item_id": str,
    "rating": float,
    "timestamp": "int64",
    "text": str,
    "summary": str,
    "explanation": str,  # "" when the source has none; tasks then use the review's first sentence
}


@dataclass
class Dataset:
    """A source as loaded, in its own ids, in file order (the order breaks timestamp ties)."""

    name: str
    items: pd.DataFrame  # ITEM_COLUMNS; one row per item; title "" if unknown
    interactions: pd.DataFrame  # INTERACTION_COLUMNS; rating NaN if the source has none
    reviews: pd.DataFrame | None = None  # REVIEW_COLUMNS (+ optional "split": train/valid/test)
    source_files: list[Path] = field(default_factory=list)  # hashed into the fingerprint
    # Sources that ship their own negatives (P5): user_id -> list of item_id.
    negatives: dict[str, list[str]] | None = None
    # What loading found worth reporting (files a source folder lacks, ratings off the scale): into the stats.
    stats: dict = field(default_factory=dict)


@dataclass
class Prepared:
    """A deterministic split of a Dataset. Item and user ids are remapped to 1..n by a seeded shuffle."""

    name: str
    fingerprint: str
    seed: int
    items: pd.DataFrame  # index "item" (int); columns title, category, (brand,) source_id
    # Sequence split: leave-one-out by time per user; column "split" in {train, valid, test}.
    interactions: pd.DataFrame  # user, item, rating, timestamp, split
    # Random 80/10/10 split of rated interactions, every user and item kept in train.
    ratings: pd.DataFrame  # user, item, rating, timestamp, split
    # Random 80/10/10 split of reviews (empty frame when the source has none).
    reviews: pd.DataFrame  # user, item, rating, timestamp, text, summary, explanation, split
    negatives: np.ndarray  # shape (n_users + 1, n_negatives); row u = negatives of user u (row 0 unused)
    stats: dict = field(default_factory=dict)  # counts worth reporting (dropped users, moved rows...)
