"""Small source files in the real formats (Amazon 2014/2018/2023, P5 folder, RecBole atomic)."""

from __future__ import annotations

import gzip
import json
import pickle
from pathlib import Path

DAY = 86_400
BASE_TIME = 1_400_000_000


def review_rows(n_users: int = 12, n_items: int = 15, per_user: int = 8) -> list[dict]:
    """User k reviews items (k + j) % n_items for j < per_user, a day apart; every item gets
    at least 5 reviewers with the defaults, so the set is already 5-core."""
    rows = []
    for k in range(n_users):
        for j in range(per_user):
            item = (k + j) % n_items
            rows.append(
                {
                    "user": f"U{k:02d}",
                    "item": f"B{item:03d}",
                    "rating": float(1 + (k + item) % 5),
                    "time": BASE_TIME + j * DAY,
                    "summary": f"summary {k} {item}",
                    "text": f"review text by user {k} about item {item}.",
                }
            )
    return rows


def kcore_rows() -> list[dict]:
    """A complete 5x5 core, plus user U9 (4 core items + item X) and item X (U9 + 3 core users).
    Pass 1 drops X (4 reviews); only then U9 falls to 4 reviews and goes in pass 2."""
    rows = [{"user": f"U{u}", "item": f"B{i}"} for u in range(5) for i in range(5)]
    rows += [{"user": "U9", "item": f"B{i}"} for i in range(4)] + [{"user": "U9", "item": "X"}]
    rows += [{"user": f"U{u}", "item": "X"} for u in range(3)]
    return [{**r, "rating": 5.0, "time": BASE_TIME + n, "summary": "s", "text": "t"} for n, r in enumerate(rows)]


def _write_lines(path: Path, lines: list[str], gz: bool = False) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def write_amazon_2014(folder: Path, rows: list[dict] | None = None, meta: bool = True) -> Path:
    """reviews_*.json (JSON lines, plain) + meta_*.json.gz (Python-literal dicts, gzip)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = review_rows() if rows is None else rows
    lines = [
        json.dumps(
            {
                "reviewerID": r["user"],
                "asin": r["item"],
                "reviewerName": "someone",
                "helpful": [0, 0],
                "reviewText": r["text"],
                "overall": r["rating"],
                "summary": r["summary"],
                "unixReviewTime": r["time"],
                "reviewTime": "01 1, 2014",
            }
        )
        for r in rows
    ]
    _write_lines(folder / "reviews_Beauty_5.json", lines)
    if meta:
        items = sorted({r["item"] for r in rows})
        meta_lines = [
            repr({"asin": a, "title": f"Product {a} &amp; co", "categories": [["Beauty", "Skin Care", "Face"]], "brand": "b"})
            for a in items
        ]
        meta_lines.insert(1, repr({"asin": "UNUSED1", "title": "never reviewed", "categories": [["Other"]]}))
        _write_lines(folder / "meta_Beauty.json.gz", meta_lines, gz=True)
    return folder


def write_amazon_2018(path: Path, rows: list[dict] | None = None) -> Path:
    """A gzip file named .json (no metadata): real JSON lines with the 2014 keys."""
    rows = review_rows() if rows is None else rows
    lines = [
        json.dumps({"overall": r["rating"], "verified": True, "reviewerID": r["user"], "asin": r["item"],
                    "reviewText": r["text"], "summary": r["summary"], "unixReviewTime": r["time"]})
        for r in rows
    ]
    return _write_lines(path, lines, gz=True)


def write_amazon_2023(folder: Path, rows: list[dict] | None = None) -> Path:
    """All_Beauty.jsonl + meta_All_Beauty.jsonl.gz; a row's "time_ms" (if given) is its exact timestamp."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = review_rows() if rows is None else rows
    lines = [
        json.dumps({"rating": r["rating"], "title": r["summary"], "text": r["text"], "images": [],
                    "asin": r["item"] + "-child", "parent_asin": r["item"], "user_id": r["user"],
                    "timestamp": r.get("time_ms", r["time"] * 1000 + 123), "helpful_vote": 0,
                    "verified_purchase": True})
        for r in rows
    ]
    _write_lines(folder / "All_Beauty.jsonl", lines)
    items = sorted({r["item"] for r in rows})
    meta = [
        json.dumps({"main_category": "All Beauty", "title": f"Item {a}", "categories": [], "parent_asin": a})
        for a in items
    ]
    _write_lines(folder / "meta_All_Beauty.jsonl.gz", meta, gz=True)
    return folder


def write_p5(folder: Path, rows: list[dict] | None = None, negatives: int = 4) -> Path:
    """P5's beauty-folder layout with consecutive string ids, pickled splits and meta.json.gz."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = review_rows() if rows is None else rows
    users = list(dict.fromkeys(r["user"] for r in rows))
    items = list(dict.fromkeys(r["item"] for r in rows))
    user2id = {u: str(k + 1) for k, u in enumerate(users)}
    item2id = {i: str(k + 1) for k, i in enumerate(items)}
    maps = {"user2id": user2id, "item2id": item2id,
            "id2user": {v: k for k, v in user2id.items()}, "id2item": {v: k for k, v in item2id.items()}}
    (folder / "datamaps.json").write_text(json.dumps(maps))
    seq, neg = [], []
    for u in users:
        mine = sorted((r for r in rows if r["user"] == u), key=lambda r: r["time"])
        seq.append(" ".join([user2id[u]] + [item2id[r["item"]] for r in mine]))
        unseen = [item2id[i] for i in items if i not in {r["item"] for r in mine}]
        neg.append(" ".join([user2id[u]] + unseen[:negatives]))
    _write_lines(folder / "sequential_data.txt", seq)
    _write_lines(folder / "negative_samples.txt", neg)
    review_dicts = [
        {"reviewerID": r["user"], "asin": r["item"], "reviewerName": "x", "helpful": [0, 0], "reviewText": r["text"],
         "overall": r["rating"], "summary": r["summary"], "unixReviewTime": r["time"], "reviewTime": "01 1, 2014"}
        for r in rows
    ]
    splits = {"train": review_dicts[::3] + review_dicts[1::3], "val": review_dicts[2::6], "test": review_dicts[5::6]}
    (folder / "review_splits.pkl").write_bytes(pickle.dumps(splits))
    exp = {name: [{**d, "feature": "color", "explanation": f"great color for {d['asin']}"} for d in part[:3]]
           for name, part in splits.items()}
    (folder / "exp_splits.pkl").write_bytes(pickle.dumps(exp))
    meta = [repr({"asin": i, "title": f"P5 item {i}", "categories": [["Beauty", "Makeup"]], "brand": "b"}) for i in items]
    _write_lines(folder / "meta.json.gz", meta, gz=True)
    return folder


def write_atomic(folder: Path, inter_lines: list[str], item_lines: list[str] | None = None, stem: str = "toy") -> Path:
    """RecBole atomic files: tab-separated, first line `name:type` headers."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_lines(folder / f"{stem}.inter", inter_lines)
    if item_lines is not None:
        _write_lines(folder / f"{stem}.item", item_lines)
    return folder


def atomic_rows(n_users: int = 6, n_items: int = 12, per_user: int = 5) -> list[str]:
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for u in range(n_users):
        for j in range(per_user):
            lines.append(f"u{u}\tm{(u * 2 + j) % n_items}\t{1 + (u + j) % 5}\t{1000 + j * 10}")
    return lines


def atomic_items(n_items: int = 12) -> list[str]:
    return ["item_id:token\ttitle:token_seq\tyear:token\tgenre:token_seq"] + [
        f"m{i}\tMovie {i}\t{1990 + i}\tDrama Comedy" for i in range(n_items)
    ]
