"""Sequential and direct recommendation: one held-out next item per user (leave-one-out by time).

Sequential ranks the whole catalog (minus the user's history) in generate mode and for classic models;
direct ranks the sample's candidates (the target plus the user's fixed negatives). Likelihood scoring
ranks the candidates for both.
"""

from __future__ import annotations

import numpy as np

from llmrec.tasks.base import (HISTORY_LENGTH, SampleOptions, Task, order_candidates, sample_rng)
from llmrec.types import Sample


def _build(task: str, prepared, options: SampleOptions) -> list[Sample]:
    inter = prepared.interactions.sort_values(["user", "timestamp"], kind="stable")
    title = prepared.items["title"].to_dict()
    # one shared, read-only entry per item: a sample lists 100 candidates, rebuilding them dominated
    entries = {int(i): {"item": int(i), "title": t} for i, t in title.items()}
    users, items, split = (inter[c].to_numpy() for c in ("user", "item", "split"))
    bounds = np.flatnonzero(np.diff(users)) + 1  # users are contiguous after the sort
    items, split = items.tolist(), split.tolist()
    targets = []  # (order key, user, sequence, target position): cheap; samples are built for the kept ones
    for start, end in zip([0, *bounds.tolist()], [*bounds.tolist(), len(items)]):
        user, user_items, user_split = users[start], items[start:end], split[start:end]
        if options.split == "train":
            # every training position with some history is a finetuning example; latest ones first
            seq = [i for i, s in zip(user_items, user_split) if s == "train"]
            targets += [((len(seq) - j, user), user, seq, j) for j in range(len(seq) - 1, 0, -1)]
        elif options.split in user_split:  # users too short for leave-one-out are counted by the preparation
            keep = {"valid": ("train",), "test": ("train", "valid")}[options.split]
            seq = [i for i, s in zip(user_items, user_split) if s in keep]
            targets.append(((0, user), user, seq + [user_items[user_split.index(options.split)]], len(seq)))
    targets.sort(key=lambda t: t[0])
    return [_sample(task, prepared, title, entries, options, int(user), seq[:j], seq[j],
                    f"u{user}-p{j}" if options.split == "train" else f"u{user}")
            for _, user, seq, j in targets[: options.limit]]


def _sample(task, prepared, title, entries, options, user: int, seen: list[int], target: int,
            sample_id: str) -> Sample:
    def titles(items):
        return [entries[i] for i in items]

    rng = sample_rng(options.seed, user, len(seen))
    candidates = order_candidates(target, prepared.negatives[user], options.candidate_order, rng)
    variables = {
        "user": user,
        "item": int(target),
        "history": titles(seen[-HISTORY_LENGTH:]),
        "seen": seen,  # every earlier item: full-catalog rankers exclude them
        "candidates": titles(candidates),
        "examples": [
            {"history": titles(seen[:j][-HISTORY_LENGTH:]),
             "answer_item": int(seen[j]), "answer_title": title[seen[j]]}
            for j in range(max(1, len(seen) - options.shots), len(seen))
        ] if options.shots else [],
        "reference_title": title[target],
    }
    return Sample(task, sample_id, user, int(target), variables, int(target), candidates)


def build_sequential(prepared, options: SampleOptions) -> list[Sample]:
    return _build("sequential", prepared, options)


def build_direct(prepared, options: SampleOptions) -> list[Sample]:
    return _build("direct", prepared, options)


SEQUENTIAL = Task("sequential", "ranking", "movielens-100k",
                  "Recommend the next item from the user's history (ranked over the catalog).", build_sequential)
DIRECT = Task("direct", "ranking", "movielens-100k",
              "Rank candidate items (the held-out item plus sampled negatives) for the user.", build_direct)
