"""Sequential and direct recommendation: one held-out next item per user (leave-one-out by time).

Sequential ranks the whole catalog (minus the user's history) in generate mode and for classic models;
direct ranks the sample's candidates (the target plus the user's fixed negatives). Likelihood scoring
ranks the candidates for both.
"""

from __future__ import annotations

import numpy as np

from llmrec.tasks.base import (HISTORY_LENGTH, SampleOptions, Task, by_user_time, gc_paused, order_candidates,
                               sample_rng, spread_over_users)
from llmrec.types import LazyVariables, Sample


class _Variables:
    """Builds one sample's template variables, on first read."""

    def __init__(self, prepared, options: SampleOptions, items: list[int], kept: np.ndarray):
        self.title = prepared.items["title"].to_dict()
        # one shared, read-only entry per item: a sample lists 100 candidates, rebuilding them dominated
        self.entries = {int(i): {"item": int(i), "title": t} for i, t in self.title.items()}
        self.negatives, self.options = prepared.negatives, options
        self.items, self.kept = items, kept  # the users' rows by time; whether each may be history

    def titles(self, items) -> list[dict]:
        return [self.entries[i] for i in items]

    def held_out(self, user: int, start: int, end: int, row: int) -> dict:
        """Variables for the user's held-out row: the user's kept rows are the history."""
        seen = [item for item, keep in zip(self.items[start:end], self.kept[start:end].tolist()) if keep]
        return self(user, seen, self.items[row])

    def __call__(self, user: int, seen: list[int], target: int) -> dict:
        options = self.options
        rng = sample_rng(options.seed, user, len(seen))
        candidates = order_candidates(target, self.negatives[user], options.candidate_order, rng)
        return {
            "user": user,
            "item": target,
            "history": self.titles(seen[-HISTORY_LENGTH:]),
            "seen": seen,  # every earlier item: full-catalog rankers exclude them
            "candidates": self.titles(candidates),
            "examples": [
                {"history": self.titles(seen[:j][-HISTORY_LENGTH:]),
                 "answer_item": seen[j], "answer_title": self.title[seen[j]]}
                for j in range(max(1, len(seen) - options.shots), len(seen))
            ] if options.shots else [],
            "reference_title": self.title[target],
        }


@gc_paused
def _build(task: str, prepared, options: SampleOptions) -> list[Sample]:
    inter = by_user_time(prepared.interactions)
    users, split = inter["user"].to_numpy(), inter["split"]
    items = inter["item"].tolist()
    if options.split == "train":
        # every training position with some history is a finetuning example; latest ones first
        train = (split == "train").to_numpy()
        variables = _Variables(prepared, options, items, train)
        bounds = np.flatnonzero(np.diff(users)) + 1  # users are contiguous
        targets = []
        for start, end in zip([0, *bounds.tolist()], [*bounds.tolist(), len(items)]):
            user = int(users[start])
            seq = [item for item, keep in zip(items[start:end], train[start:end].tolist()) if keep]
            targets += [((len(seq) - j, user), user, seq[:j], seq[j]) for j in range(len(seq) - 1, 0, -1)]
        targets.sort(key=lambda t: t[0])
        return [Sample(task, f"u{user}-p{len(seen)}", user, target,
                       LazyVariables(variables, user, seen, target), target)
                for _, user, seen, target in targets[: options.limit]]
    # valid/test: each user's held-out row (users too short for leave-one-out are counted by the preparation)
    keep = {"valid": ["train"], "test": ["train", "valid"]}[options.split]
    variables = _Variables(prepared, options, items, split.isin(keep).to_numpy())
    rows = np.flatnonzero((split == options.split).to_numpy())
    held = users[rows]
    starts, ends = np.searchsorted(users, held, "left"), np.searchsorted(users, held, "right")
    return spread_over_users([Sample(task, f"u{user}", user, items[row],
                                     LazyVariables(variables.held_out, user, start, end, row), items[row])
                              for user, start, end, row in zip(held.tolist(), starts.tolist(), ends.tolist(),
                                                               rows.tolist())], options)


def build_sequential(prepared, options: SampleOptions) -> list[Sample]:
    return _build("sequential", prepared, options)


def build_direct(prepared, options: SampleOptions) -> list[Sample]:
    return _build("direct", prepared, options)


SEQUENTIAL = Task("sequential", "ranking", "movielens-100k",
                  "Recommend the next item from the user's history (ranked over the catalog).", build_sequential)
DIRECT = Task("direct", "ranking", "movielens-100k",
              "Rank candidate items (the held-out item plus sampled negatives) for the user.", build_direct)
