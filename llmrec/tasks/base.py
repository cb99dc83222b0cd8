"""What every task shares: the Task base class, sample options, and helpers to read a prepared split."""

from __future__ import annotations

import functools
import gc
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from llmrec.errors import LLMRecError
from llmrec.types import GenerateRequest, Prediction, Query, Sample

HISTORY_LENGTH = 10  # LLMRec: histories hold up to 10 items
RECOMMENDED = "classic"  # the scoring recorded for a recommender's answers (given directly, not parsed)


@dataclass(frozen=True)
class SampleOptions:
    split: str = "test"  # "valid" or "test"; finetuning builds from "train"
    shots: int = 0  # solved examples from the user's own training data (few-shot templates)
    limit: int | None = None  # valid/test: N samples spread over users (see spread_over_users); train: first N
    candidate_order: str = "shuffled"  # shuffled | target-first | target-last (position-bias probe)
    seed: int = 2023


@dataclass(frozen=True)
class Asking:
    """How an LLM is asked, from its template and the options: the same for every sample of a task."""

    scoring: str  # generate | likelihood (tasks whose `scorings` include it)
    chat: bool
    max_new_tokens: int
    stop: tuple[str, ...]
    temperature: float
    seed: int


class Task:
    """One benchmark task; it owns everything that differs between tasks.

    Samples (`build`, from a prepared dataset); for LLMs, the requests it makes and how answers are parsed
    (`ask`, `parse`); for recommenders, the `Query` each sample asks and the recommender method that answers
    it (`queries`, `recommend`); its metric family (`kind`, see llmrec.metrics); its ranking space
    (`ranking_over`); the prompt lists truncation may shorten (`trimmable`); and which prepared rows its
    finetuning examples must come from (`training_frame`, `training_rows`).
    """

    name = ""
    kind = ""  # the metric family that scores it: rating | ranking | text
    default_dataset = ""
    description = ""
    scorings: tuple[str, ...] = ("generate",)  # how an LLM may be asked; the first is the default
    trimmable: tuple[str, ...] = ("history", "examples")  # prompt lists dropped from, oldest first, in order
    training_frame = ""  # the prepared frame (ratings | interactions | reviews) finetuning rows come from
    recommender_method = ""  # the Recommender method answering one Query: rate | rank | write

    def build(self, prepared, options: SampleOptions) -> list[Sample]:
        raise NotImplementedError

    # -- protocol
    def scoring(self, requested: str) -> str:
        """The scoring an LLM gets when `requested` is asked for (tasks that only generate ignore it)."""
        return requested if requested in self.scorings else self.scorings[0]

    def ranking_over(self, scoring: str) -> str | None:
        """What a ranked answer is scored against: "catalog", "candidates", or None (not a ranking task)."""
        return None

    def protocol(self, scoring: str, candidates: int, candidate_order: str) -> dict:
        """The sampling protocol entries of metrics.json that depend on the task."""
        return {"candidates": None, "candidate_order": None, "ranking_over": None}

    # -- LLMs
    def parse_context(self, prepared):
        """Whatever `parse` needs from the data (the catalog's titles for ranking tasks), built once per run."""
        return None

    def parse(self, sample: Sample, raw: str, context) -> Prediction:
        raise NotImplementedError

    def ask(self, backend, samples: Sequence[Sample], prompts: Sequence[str], asking: Asking,
            context) -> list[tuple[Any, Prediction]]:
        """(raw answer, prediction) per sample: one greedy or sampled completion, parsed."""
        requests = [GenerateRequest(p, chat=asking.chat, max_new_tokens=asking.max_new_tokens, stop=asking.stop,
                                    temperature=asking.temperature, seed=asking.seed) for p in prompts]
        raws = [a[0] for a in backend.generate(requests)]
        return [(raw, self.parse(s, raw, context)) for s, raw in zip(samples, raws)]

    # -- recommenders
    def queries(self, prepared, samples: Sequence[Sample], options: SampleOptions) -> list[Query]:
        return [Query(s.user, s.item) for s in samples]

    def done_by(self, model) -> bool:
        return callable(getattr(model, self.recommender_method, None))

    def recommend(self, model, queries: Sequence[Query]) -> list[Prediction]:
        answer = getattr(model, self.recommender_method)
        return [Prediction(answer(q)) for q in queries]

    # -- finetuning
    def training_rows(self, sample: Sample) -> list[tuple[int, int]]:
        """The (user, item) rows a training sample shows: all must be training rows (no held-out leak)."""
        return [(sample.user, sample.item)]

    def check_train_only(self, prepared, samples: Sequence[Sample]) -> None:
        """Refuse samples that show a (user, item) row outside the training split."""
        frame = getattr(prepared, self.training_frame)
        train = frame[frame["split"] == "train"]
        pairs = set(zip(train["user"].astype(int).tolist(), train["item"].astype(int).tolist()))
        for s in samples:
            leaked = next((r for r in self.training_rows(s) if r not in pairs), None)
            if leaked is not None:
                raise LLMRecError(f"{self.name} finetuning sample {s.sample_id}: (user {leaked[0]}, item {leaked[1]}) "
                                  f"is not a training row of {prepared.name}; refusing to train on held-out data")

    def __repr__(self) -> str:
        return f"<task {self.name}>"


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
