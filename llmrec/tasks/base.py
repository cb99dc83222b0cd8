"""What every task shares: the Task record, sample options, and helpers to read a prepared split."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from llmrec.types import Sample

HISTORY_LENGTH = 10  # LLMRec: histories hold up to 10 items


@dataclass(frozen=True)
class SampleOptions:
    split: str = "test"  # "valid" or "test"; finetuning builds from "train"
    shots: int = 0  # solved examples from the user's own training data (few-shot templates)
    limit: int | None = None  # first N samples (ids are a seeded shuffle, so this is a random subset)
    candidate_order: str = "shuffled"  # shuffled | target-first | target-last (position-bias probe)
    seed: int = 2023


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # "rating" | "ranking" | "text": selects parser and metrics
    default_dataset: str
    description: str
    build: Callable[..., list[Sample]]  # (prepared, options) -> samples


def order_candidates(target: int, negatives: np.ndarray, order: str, rng: np.random.Generator) -> tuple[int, ...]:
    """Target plus negatives, shuffled per sample; the fixed orders expose position bias."""
    others = np.asarray(negatives, dtype=np.int64)
    if order == "target-first":
        return (int(target), *rng.permutation(others).tolist())
    if order == "target-last":
        return (*rng.permutation(others).tolist(), int(target))
    return tuple(rng.permutation(np.append(np.int64(target), others)).tolist())


def sample_rng(seed: int, *key: int) -> np.random.Generator:
    """One generator per sample, so a sample's draws do not depend on --limit or on other samples."""
    return np.random.default_rng([seed, *key])


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def first_sentence(text: str) -> str:
    return _SENTENCE_END.split(text.strip(), maxsplit=1)[0] if text else ""


class SampleIds:
    """Stable sample ids; a repeated (user, item) pair (possible in review data) gets a suffix."""

    def __init__(self):
        self.seen: dict[str, int] = {}

    def __call__(self, base: str) -> str:
        n = self.seen.get(base, 0)
        self.seen[base] = n + 1
        return base if n == 0 else f"{base}-{n + 1}"


def earlier_rows(history: pd.DataFrame, targets: pd.DataFrame, length: int = HISTORY_LENGTH) -> list[list[int]]:
    """For each target row, the positions in `history` (sorted by user, timestamp) of the user's latest
    `length` rows dated strictly before the target, of other items, oldest first.

    A random split puts some of a user's later ratings in train; showing them would let the prompt
    see the future, so a history is the user's behaviour as it was when the target happened.
    """
    h_user, h_time, h_item = (history[c].to_numpy() for c in ("user", "timestamp", "item"))
    t_user, t_time, t_item = (targets[c].to_numpy() for c in ("user", "timestamp", "item"))
    # (user, time) as one sortable int64 key: times ranked densely, so any timestamp range fits
    times, rank = np.unique(np.concatenate([h_time, t_time]), return_inverse=True)
    width = np.int64(len(times) + 1)
    h_key = h_user.astype(np.int64) * width + rank[: len(h_time)]
    t_key = t_user.astype(np.int64) * width + rank[len(h_time):]
    starts = np.searchsorted(h_user, t_user, "left").tolist()
    ends = np.searchsorted(h_key, t_key, "left").tolist()  # first row at or after the target's time
    items = h_item.tolist()
    rows = []
    for start, end, item in zip(starts, ends, t_item.tolist()):
        window = range(max(start, end - length), end)
        if item not in items[window.start:end]:
            rows.append(list(window))
            continue
        picked, j = [], end - 1  # the target item recurs in the window (review data): walk back past it
        while j >= start and len(picked) < length:
            if items[j] != item:
                picked.append(j)
            j -= 1
        rows.append(picked[::-1])
    return rows
