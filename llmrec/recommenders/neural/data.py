"""What a neural sequential recommender learns from: each user's training sequence and valid target.

Training reads the train split only (each user's items before the valid item, oldest first); model selection
reads the valid item, predicted from that history; the test item is never read (not even hashed). Items are
1..n_items and 0 is padding, as in the prepared data. `attributes` is each item's category ids (genres,
categories), for models that use side information; attribute 0 is padding.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from llmrec.tasks.base import by_user_time

SPLITS_READ = ("train", "valid")


@dataclass
class Sequences:
    n_items: int
    users: np.ndarray  # the users with a training sequence, ascending
    train: list[np.ndarray]  # per user (same order): training items, oldest first
    valid: np.ndarray  # per user: the valid item (0: the user has none)
    attributes: np.ndarray  # (n_items + 1, max attributes per item) attribute ids, 0-padded
    attribute_names: list[str]  # attribute id - 1 -> its name
    fingerprint: str  # sha256 of everything above

    @property
    def n_attributes(self) -> int:
        return len(self.attribute_names)


def sequences_of(prepared) -> Sequences:
    inter = by_user_time(prepared.interactions)
    inter = inter[inter["split"].isin(SPLITS_READ).to_numpy()]
    users, items = inter["user"].to_numpy(), inter["item"].to_numpy()
    is_train = (inter["split"] == "train").to_numpy()
    order = np.unique(users, return_index=True)
    starts = list(order[1]) + [len(users)]
    seq_users, train, valid = [], [], []
    for u, a, b in zip(order[0].tolist(), starts[:-1], starts[1:]):
        rows = slice(a, b)
        seq = items[rows][is_train[rows]]
        if len(seq) == 0:
            continue
        held = items[rows][~is_train[rows]]
        seq_users.append(u)
        train.append(seq.astype(np.int64))
        valid.append(int(held[0]) if len(held) else 0)
    attributes, names = _attributes(prepared.items)
    digest = hashlib.sha256()
    for part in (np.asarray(seq_users, np.int64), np.asarray(valid, np.int64), np.concatenate(train),
                 np.asarray([len(s) for s in train], np.int64), attributes):
        digest.update(part.tobytes())
    digest.update(("\n".join(names) + f"\n{len(prepared.items)}").encode())
    return Sequences(len(prepared.items), np.asarray(seq_users), train, np.asarray(valid), attributes, names,
                     digest.hexdigest())


def _attributes(items) -> tuple[np.ndarray, list[str]]:
    """The catalog's `category` column ("Action|Comedy", or a list) as a 0-padded id matrix."""
    n = len(items)
    if "category" not in items.columns:
        return np.zeros((n + 1, 1), np.int64), []
    per_item = [_split_attributes(v) for v in items["category"].tolist()]
    names = sorted({a for values in per_item for a in values})
    ids = {name: i + 1 for i, name in enumerate(names)}
    width = max((len(v) for v in per_item), default=0) or 1
    matrix = np.zeros((n + 1, width), np.int64)
    for item, values in zip(items.index.to_numpy(), per_item):
        matrix[item, : len(values)] = [ids[v] for v in values]
    return matrix, names


def _split_attributes(value) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        parts = value.replace(",", "|").split("|")
    else:
        parts = [str(v) for v in value]
    return list(dict.fromkeys(p.strip() for p in parts if p.strip()))


def left_padded(sequences: list[np.ndarray], length: int) -> np.ndarray:
    """The last `length` items of each sequence, right-aligned in a (len, length) matrix padded with 0."""
    out = np.zeros((len(sequences), length), np.int64)
    for row, seq in enumerate(sequences):
        tail = seq[-length:]
        if len(tail):
            out[row, length - len(tail):] = tail
    return out
