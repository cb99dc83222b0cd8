"""The seeded building blocks of a preparation: id remapping, splits and negative sampling.

Each random step draws from its own numpy stream of the seed (the id permutation uses the plain seed),
so one seed gives the same ids, splits and negatives whatever else changes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from llmrec.data.model import Dataset
from llmrec.errors import LLMRecError

# Independent random streams derived from the seed (the id permutation uses the plain seed).
SPLIT_STREAM, NEGATIVE_STREAM = 1, 2


def unique_sorted(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting (numpy's hash-based unique is slow on large int64 keys)."""
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if values.size else values


class IdMap:
    """Source ids (strings) -> 1..n by a seeded permutation of the sorted unique ids."""

    def __init__(self, *columns: pd.Series, rng: np.random.Generator):
        # factorize first: sorting a few thousand uniques is far cheaper than sorting every row.
        self.factorized = [pd.factorize(c) for c in columns]
        uniques = set()
        for _, u in self.factorized:
            uniques.update(map(str, u))
        self.source = pd.Index(sorted(uniques), dtype=object)
        self.new = rng.permutation(len(self.source)).astype(np.int64) + 1

    def __len__(self) -> int:
        return len(self.source)

    def column(self, k: int) -> np.ndarray:
        """New ids of the k-th column given to the constructor."""
        codes, uniques = self.factorized[k]
        return self.new[self.source.get_indexer(uniques.astype(str))][codes]

    def lookup(self, source_ids) -> np.ndarray:
        """New ids, -1 where unknown."""
        at = self.source.get_indexer(pd.Index(source_ids, dtype=object))
        return np.where(at >= 0, self.new[at], -1)

    def source_of(self, new_id: int) -> str:
        return str(self.source[int(np.nonzero(self.new == new_id)[0][0])])


def leave_one_out(frame: pd.DataFrame) -> tuple[pd.Series, int]:
    """Split labels for a frame sorted by (user, time), and the number of users too short (< 3)."""
    by_user = frame.groupby("user", sort=False)
    from_end = by_user.cumcount(ascending=False).to_numpy()
    size = by_user["user"].transform("size").to_numpy()
    code = np.where(from_end == 0, 2, np.where(from_end == 1, 1, 0))
    code[size < 3] = 0
    return split_labels(code), int(frame.loc[size < 3, "user"].nunique())


HISTORY_SPLITS = {"valid": ["train"], "test": ["train", "valid"]}  # what a held-out row's history may hold


def first_per_user(users: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The first of each user's `rows` (ascending row numbers of a frame sorted by user): a user's sample when a
    split holds out several of its rows."""
    held = users[rows]
    return rows[np.concatenate(([True], held[1:] != held[:-1]))] if rows.size else rows


def random_split(frame: pd.DataFrame, seed: int) -> tuple[pd.Series, int]:
    """80/10/10 at random, then valid/test rows with an unseen-in-train user or item move to train.
    One pass suffices: moving rows only adds users and items to train. Users with a single row
    are exempt from the user rule (they can never be in train and test at once; clothing reviews
    have only such users and would otherwise lose every valid/test row)."""
    n = len(frame)
    order = np.random.default_rng([seed, SPLIT_STREAM]).permutation(n)
    n_train, n_valid = round(0.8 * n), round(0.1 * n)
    code = np.full(n, 2, dtype=np.int8)  # 0 train, 1 valid, 2 test
    code[order[:n_train]] = 0
    code[order[n_train : n_train + n_valid]] = 1
    train = code == 0
    user, item = frame["user"].to_numpy(), frame["item"].to_numpy()
    single = np.bincount(user)[user] == 1
    in_train_users = np.bincount(user[train], minlength=user.max() + 1)[user] > 0
    in_train_items = np.bincount(item[train], minlength=item.max() + 1)[item] > 0
    cold = ~train & ((~single & ~in_train_users) | ~in_train_items)
    code[cold] = 0
    return split_labels(code), int(cold.sum())


def split_labels(code: np.ndarray) -> pd.Series:
    return pd.Series(np.array(["train", "valid", "test"], dtype=object)[code], dtype=str)


def in_sorted(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    if sorted_keys.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return sorted_keys[at] == keys


def sample_negatives(seen: np.ndarray, n_users: int, n_items: int, count: int, seed: int) -> np.ndarray:
    """Row u: `count` distinct items in 1..n_items that are not in user u's seen keys
    (key = user * (n_items + 1) + item). Vectorised rejection sampling: each round draws, for every
    unfinished user, about enough uniform items to finish, rejects seen/duplicate ones and keeps the
    first accepted in draw order, which is a uniform sample without replacement. A round's draws are made
    and judged a block of users at a time, so memory stays bounded; numpy's generator gives the same stream
    in pieces as in one call, so the result does not depend on the block size."""
    stride = n_items + 1
    out = np.zeros((n_users + 1, count), dtype=np.int64)
    if count == 0 or n_users == 0:
        return out
    seen = unique_sorted(seen)
    free = n_items - np.bincount(seen // stride, minlength=n_users + 1)
    rng = np.random.default_rng([seed, NEGATIVE_STREAM])
    filled = np.zeros(n_users + 1, dtype=np.int64)
    pending = np.arange(1, n_users + 1)
    while pending.size:
        need = count - filled[pending]
        draws = np.ceil(need * n_items / free[pending] * 1.2).astype(np.int64) + 8
        chosen = np.empty(0, dtype=np.int64)
        if filled.any():  # keys of the pending users' negatives so far (0: an empty slot)
            taken = out[pending]
            chosen = np.sort((pending[:, None] * stride + taken)[taken > 0])
        ends = np.cumsum(draws)
        for lo, hi in _blocks(ends, DRAWS_PER_BLOCK):
            # drawn block by block: the generator's stream is the same as one draw for the whole round
            items = rng.integers(1, n_items + 1, size=int(draws[lo:hi].sum()))
            _accept(out, filled, seen, chosen, stride, pending[lo:hi], need[lo:hi], draws[lo:hi], items)
        pending = pending[filled[pending] < count]
    return out


DRAWS_PER_BLOCK = 1 << 20  # about 8 arrays of this many int64 at a time


def _blocks(ends: np.ndarray, size: int) -> list[tuple[int, int]]:
    """[lo, hi) ranges of users whose draws (cumulative `ends`) add up to about `size` each."""
    cuts = np.searchsorted(ends, np.arange(size, int(ends[-1]), size), side="right")
    bounds = [0, *sorted(set(cuts.tolist()) - {0, len(ends)}), len(ends)]
    return list(zip(bounds[:-1], bounds[1:]))


def _accept(out, filled, seen, chosen, stride, users, need, draws, items) -> None:
    """Fill `out` with the first acceptable draws of each of `users` (each user's draws are contiguous)."""
    rows_of_draws = np.repeat(users, draws)
    keys = rows_of_draws * stride + items
    accepted = ~in_sorted(seen, keys) & ~in_sorted(chosen, keys)
    first = np.zeros(keys.size, dtype=bool)
    first[np.unique(keys, return_index=True)[1]] = True  # keys hold the user: duplicates are within a user
    accepted &= first
    # Rank of each accepted draw within its user's block of draws.
    running = np.cumsum(accepted)
    block_start = np.cumsum(draws) - draws
    before = np.where(block_start > 0, running[np.maximum(block_start - 1, 0)], 0)
    rank = running - np.repeat(before, draws) - 1
    take = accepted & (rank < np.repeat(need, draws))
    rows = rows_of_draws[take]
    out[rows, filled[rows] + rank[take]] = items[take]
    filled += np.bincount(rows, minlength=filled.size)


def candidates_hint(negatives: int, most: int) -> str:
    """Runs ask for negatives by `--candidates` (1 target + N-1 negatives): say it in those terms."""
    return f"--candidates {negatives + 1} = 1 target + {negatives} negatives; use --candidates {most + 1} or fewer"


def shipped_negatives(dataset: Dataset, users: IdMap, items: IdMap, count: int) -> np.ndarray:
    """The source's own negatives (P5), first `count` per user, in new ids."""
    shipped = dataset.negatives or {}
    width = min(len(v) for v in shipped.values())
    if count > width:
        raise LLMRecError(f"{dataset.name}: the source ships {width} negatives per user; asked for {count} "
                          f"({candidates_hint(count, width)})")
    missing = [u for u in users.source if u not in shipped]
    if missing:
        raise LLMRecError(f"{dataset.name}: the shipped negatives have no row for user {missing[0]!r}")
    flat = [i for u in users.source for i in shipped[u][:count]]
    new_items = items.lookup(flat)
    if (new_items < 0).any():
        raise LLMRecError(f"{dataset.name}: shipped negative item {flat[int(np.argmax(new_items < 0))]!r} is not in the dataset")
    out = np.zeros((len(users) + 1, count), dtype=np.int64)
    out[users.new] = new_items.reshape(len(users), count)
    return out
