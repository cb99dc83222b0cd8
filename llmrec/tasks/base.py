"""What every task shares: the Task record, sample options, and helpers to read a prepared split."""

from __future__ import annotations

import functools
import gc
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from llmrec.types import Sample

HISTORY_LENGTH = 10  # LLMRec: histories hold up to 10 items


@dataclass(frozen=True)
class SampleOptions:
    split: str = "test"  # "valid" or "test"; finetuning builds from "train"
    shots: int = 0  # solved examples from the user's own training data (few-shot templates)
    limit: int | None = None  # valid/test: N samples spread over users (see spread_over_users); train: first N
    candidate_order: str = "shuffled"  # shuffled | target-first | target-last (position-bias probe)
    seed: int = 2023


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # "rating" | "ranking" | "text": selects parser and metrics
    default_dataset: str
    description: str
    build: Callable[..., list[Sample]]  # (prepared, options) -> samples


def gc_paused(build: Callable[..., list[Sample]]) -> Callable[..., list[Sample]]:
    """Runs a sample builder with the cyclic garbage collector paused: samples are many small objects
    that live as long as the run, and collections triggered while they are created walk all of them
    again and again (ML-1M's 100k rating samples: 1.1 s -> 0.45 s)."""

    @functools.wraps(build)
    def paused(*args, **kwargs):
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return build(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return paused


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


_LIMIT_STREAM = 1  # a seed stream of its own: drawing the subset shifts no other seeded draw


def spread_over_users(samples: list[Sample], options: SampleOptions) -> list[Sample]:
    """--limit N on valid/test: a seeded random subset spread over users. Users are drawn in a seeded random
    order and each gives one sample (drawn at random among its own) until every user has given one, then a
    second, and so on; the subset keeps the task's order. Same data and seed: same sample ids, whatever the model.
    Finetuning (train) builders apply their own order and take the first N."""
    if options.limit is None or options.split == "train" or options.limit >= len(samples):
        return samples
    rng = np.random.default_rng([options.seed, _LIMIT_STREAM])
    drawn = rng.permutation(len(samples))
    users = np.fromiter((samples[i].user for i in drawn), dtype=np.int64, count=len(drawn))
    turn = pd.Series(users).groupby(users).cumcount().to_numpy()  # 0 for a user's first draw, 1 for its second
    chosen = np.sort(drawn[np.argsort(turn, kind="stable")[: options.limit]])
    return [samples[i] for i in chosen]


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


def by_user_time(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by (user, timestamp), ties in their current order. Prepared frames already are."""
    users, times = frame["user"].to_numpy(), frame["timestamp"].to_numpy()
    steps = np.diff(users)
    if (steps >= 0).all() and ((steps > 0) | (np.diff(times) >= 0)).all():
        return frame
    return frame.sort_values(["user", "timestamp"], kind="stable")


def history_bounds(history: pd.DataFrame, targets: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """For each target row, [start, end): the user's rows in `history` (ordered by user, timestamp)
    dated strictly before the target. `earlier_rows` picks the history from them."""
    h_user, h_time = history["user"].to_numpy(), history["timestamp"].to_numpy()
    t_user, t_time = targets["user"].to_numpy(), targets["timestamp"].to_numpy()
    # (user, time) as one sortable int64 key: times ranked densely, so any timestamp range fits
    times, rank = np.unique(np.concatenate([h_time, t_time]), return_inverse=True)
    width = np.int64(len(times) + 1)
    h_key = h_user.astype(np.int64) * width + rank[: len(h_time)]
    t_key = t_user.astype(np.int64) * width + rank[len(h_time):]
    return np.searchsorted(h_user, t_user, "left"), np.searchsorted(h_key, t_key, "left")


def earlier_rows(items: Sequence[int], start: int, end: int, target: int, length: int = HISTORY_LENGTH) -> list[int]:
    """Positions in `items` of the latest `length` rows in [start, end) of other items than `target`,
    oldest first: a user's history as it was when the target happened.

    A random split puts some of a user's later ratings in train; showing them would let the prompt
    see the future, so histories end before the target (see `history_bounds`).
    """
    window = range(max(start, end - length), end)
    if target not in items[window.start:end]:
        return list(window)
    picked, j = [], end - 1  # the target item recurs in the window (review data): walk back past it
    while j >= start and len(picked) < length:
        if items[j] != target:
            picked.append(j)
        j -= 1
    return picked[::-1]
