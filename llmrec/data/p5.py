"""P5's preprocessed Amazon folder (e.g. P5's `data/beauty/`).

Files: sequential_data.txt (`uid iid iid ...` in time order), negative_samples.txt
(`uid n1 ... n99`), datamaps.json (id2user, id2item), review_splits.pkl (train/val/test lists of
review dicts), optional exp_splits.pkl (the same with `explanation`), optional meta.json.gz.
Ids are translated back to reviewerID/asin; `prepare` remaps them again at random, because P5's
consecutive item ids let a model guess the next item as "last id + 1".
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from llmrec.data.amazon import NO_META, read_metadata
from llmrec.data.model import Dataset
from llmrec.data.sources import (
    existing_path,
    interactions_frame,
    items_frame,
    nonempty_lines,
    rating,
    read_json_file,
    regular_file,
    reviews_frame,
    shown,
    unix_time,
)
from llmrec.errors import LLMRecError

REQUIRED = ("sequential_data.txt", "datamaps.json")
# Each optional file and what a folder without it lacks (recorded in the stats); the tasks that need it say so.
OPTIONAL = {
    "review_splits.pkl": "reviews and their ratings, for the rating, explanation and review tasks",
    "negative_samples.txt": "shipped negatives, sampled instead",
    "exp_splits.pkl": "explanations, the review's first sentence instead",
    "meta.json.gz": "titles and categories, the asin instead",
}
SPLITS = {"train": "train", "val": "valid", "valid": "valid", "test": "test"}
REVIEW_KEYS = ("reviewerID", "asin", "overall")


def source_files(folder: str | Path) -> list[Path]:
    folder = existing_path(folder, "P5's preprocessed folder (sequential_data.txt, datamaps.json, ...)")
    if not folder.is_dir():
        raise LLMRecError(f"{folder}: expected P5's preprocessed folder, got a file")
    missing = [n for n in REQUIRED if not (folder / n).exists()]
    if missing:
        raise LLMRecError(f"{folder}: missing {missing[0]} (a P5 folder needs {', '.join(REQUIRED)})")
    return [regular_file(folder / n, "a file of P5's folder") for n in (*REQUIRED, *OPTIONAL) if (folder / n).exists()]


class ContainersOnlyUnpickler(pickle.Unpickler):
    """Unpickling can run arbitrary code; these files may come from anywhere, so only
    plain containers and scalars may be rebuilt."""

    ALLOWED = {
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "list"),
        ("builtins", "dict"),
        ("builtins", "tuple"),
        ("collections", "OrderedDict"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_pickle(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            return ContainersOnlyUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            ImportError, OverflowError, MemoryError, RecursionError) as e:
        raise LLMRecError(f"{path}: not a pickle of plain lists/dicts ({e})") from None
    except OSError as e:
        raise LLMRecError(f"{path}: cannot read ({e})") from None


def read_datamaps(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    maps = read_json_file(path)
    if not isinstance(maps, dict) or not {"id2user", "id2item"} <= maps.keys():
        raise LLMRecError(f"{path}:1: expected a JSON object with keys id2user and id2item (and user2id, item2id)")
    return _id_map(maps, "id2user", path), _id_map(maps, "id2item", path)


def _id_map(maps: dict, key: str, path: Path) -> dict[str, str]:
    table = maps[key]
    if not isinstance(table, dict) or not all(isinstance(v, (str, int)) and not isinstance(v, bool)
                                              for v in table.values()):
        raise LLMRecError(f"{path}:1: expected {key} to be an object of id -> source id strings")
    return {str(k): str(v) for k, v in table.items()}


def _lookup(table: dict[str, str], key: str, path: Path, number: int, what: str) -> str:
    try:
        return table[key]
    except KeyError:
        raise LLMRecError(f"{path}:{number}: {what} id {key!r} is not in datamaps.json") from None


def read_sequences(path: Path, id2user: dict, id2item: dict) -> tuple[list, list, list]:
    users, items, position = [], [], []
    line_of: dict[str, int] = {}
    for number, line in nonempty_lines(path):
        tokens = line.split()
        if len(tokens) < 2:
            raise LLMRecError(f"{path}:{number}: expected 'user_id item_id [item_id ...]'")
        if tokens[0] in line_of:  # two lines would interleave into one sequence with clashing positions
            raise LLMRecError(f"{path}:{number}: user {tokens[0]!r} already has a line (line {line_of[tokens[0]]}); "
                              f"expected one line per user")
        line_of[tokens[0]] = number
        user = _lookup(id2user, tokens[0], path, number, "user")
        for k, token in enumerate(tokens[1:]):
            users.append(user)
            items.append(_lookup(id2item, token, path, number, "item"))
            position.append(k)  # the order in the line is the time order
    return users, items, position


def read_negatives(path: Path, id2user: dict, id2item: dict) -> dict[str, list[str]]:
    negatives: dict[str, list[str]] = {}
    width = None
    for number, line in nonempty_lines(path):
        tokens = line.split()
        if width is None:
            width = len(tokens)
        if len(tokens) < 2 or len(tokens) != width:
            raise LLMRecError(f"{path}:{number}: expected 'user_id' and {max((width or 2) - 1, 1)} negative item ids")
        user = _lookup(id2user, tokens[0], path, number, "user")
        if user in negatives:  # a second line would silently replace the first
            raise LLMRecError(f"{path}:{number}: user {tokens[0]!r} already has a line; expected one line per user")
        negatives[user] = [_lookup(id2item, t, path, number, "item") for t in tokens[1:]]
    return negatives


def read_review_splits(path: Path, explanations: dict | None = None) -> dict[str, list]:
    data = load_pickle(path)
    if not isinstance(data, dict) or not any(k in data for k in SPLITS):
        raise LLMRecError(f"{path}: expected a dict with lists 'train', 'val', 'test' of review dicts")
    cols: dict[str, list] = {k: [] for k in ("user_id", "item_id", "rating", "timestamp", "text", "summary", "split")}
    for split_key, rows in data.items():
        if split_key not in SPLITS:
            raise LLMRecError(f"{path}: split {shown(split_key)} is not one of train, val, test")
        if not isinstance(rows, list):
            raise LLMRecError(f"{path}: split {split_key!r} is not a list of review dicts")
        for index, review in enumerate(rows, start=1):
            if not isinstance(review, dict):
                raise LLMRecError(f"{path}: {split_key} record {index}: expected a review dict")
            missing = [k for k in REVIEW_KEYS if k not in review]
            if missing:
                raise LLMRecError(f"{path}: {split_key} record {index}: missing key {missing[0]!r}")
            where = f"{path}: {split_key} record {index}"
            time = review.get("unixReviewTime")
            cols["user_id"].append(str(review["reviewerID"]))
            cols["item_id"].append(str(review["asin"]))
            cols["rating"].append(rating(review["overall"], where, "overall"))
            cols["timestamp"].append(0 if time is None else unix_time(time, where, "unixReviewTime"))
            cols["text"].append(str(review.get("reviewText") or "").strip())
            cols["summary"].append(str(review.get("summary") or "").strip())
            cols["split"].append(SPLITS[split_key])
    return cols


def read_explanations(path: Path) -> dict[tuple[str, str], str]:
    """(reviewerID, asin) -> explanation sentence, first occurrence."""
    data = load_pickle(path)
    if not isinstance(data, dict):
        raise LLMRecError(f"{path}: expected a dict with lists 'train', 'val', 'test'")
    found: dict[tuple[str, str], str] = {}
    for split_key, rows in data.items():
        for index, review in enumerate(rows if isinstance(rows, list) else [], start=1):
            if not isinstance(review, dict) or not {"reviewerID", "asin"} <= review.keys():
                raise LLMRecError(f"{path}: {split_key} record {index}: expected keys reviewerID, asin, explanation")
            key = (str(review["reviewerID"]), str(review["asin"]))
            if review.get("explanation") and key not in found:
                found[key] = str(review["explanation"]).strip()
    return found


def load_p5(folder: str | Path, name: str | None = None) -> Dataset:
    files = {p.name: p for p in source_files(folder)}
    id2user, id2item = read_datamaps(files["datamaps.json"])
    users, items, position = read_sequences(files["sequential_data.txt"], id2user, id2item)
    reviews = None
    if "review_splits.pkl" in files:
        cols = read_review_splits(files["review_splits.pkl"])
        explanation = [""] * len(cols["user_id"])
        if "exp_splits.pkl" in files:
            found = read_explanations(files["exp_splits.pkl"])
            explanation = [found.get(key, "") for key in zip(cols["user_id"], cols["item_id"])]
        reviews = reviews_frame(
            cols["user_id"], cols["item_id"], cols["rating"], cols["timestamp"], cols["text"], cols["summary"],
            explanation, cols["split"],
        )
    negatives = None
    if "negative_samples.txt" in files:
        negatives = read_negatives(files["negative_samples.txt"], id2user, id2item)

    asins = list(dict.fromkeys(items + ([] if reviews is None else reviews["item_id"].tolist())))
    meta = read_metadata(files["meta.json.gz"], set(asins)) if "meta.json.gz" in files else {}
    entries = [meta.get(a, NO_META) for a in asins]  # (title, category, brand)
    return Dataset(
        name=name or f"p5:{folder}",
        items=items_frame(asins, [e[0] or a for e, a in zip(entries, asins)], [e[1] for e in entries],
                          [e[2] for e in entries]),
        interactions=interactions_frame(users, items, np.full(len(users), np.nan), position),
        reviews=reviews,
        source_files=list(files.values()),
        negatives=negatives,
        stats={"absent_files": {n: what for n, what in OPTIONAL.items() if n not in files}},
    )
