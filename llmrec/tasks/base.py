"""What every task shares: the Task record, sample options, and helpers to read a prepared split."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

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
    others = [int(n) for n in negatives]
    if order == "target-first":
        return (int(target), *rng.permutation(others).tolist())
    if order == "target-last":
        return (*rng.permutation(others).tolist(), int(target))
    return tuple(int(x) for x in rng.permutation([int(target), *others]))


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
