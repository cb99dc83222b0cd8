"""Raw Amazon review dumps (2014, 2018, 2023 releases), one JSON object per line, gzip or plain.

PATH is a review file, or a folder holding one review file and optionally one metadata file
(its name starts with "meta"). The 2014 metadata lines are Python literals, not JSON: they are
read with `ast.literal_eval`, which evaluates literals only and never runs code.
"""

from __future__ import annotations

import ast
import html
import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from llmrec.data.model import Dataset
from llmrec.data.sources import (
    existing_path,
    interactions_frame,
    items_frame,
    join_category,
    kcore_filter,
    nonempty_lines,
    rating,
    regular_file,
    reviews_frame,
    unix_time,
)
from llmrec.errors import LLMRecError

# Review keys: (user, item, rating, time in seconds, summary, text) per release.
KEYS_2014 = ("reviewerID", "asin", "overall", "unixReviewTime", "summary", "reviewText")  # 2018 too
KEYS_2023 = ("user_id", "parent_asin", "rating", "timestamp", "title", "text")
DATA_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz", ".gz", ".txt")
ASIN_IN_LINE = re.compile(r"""['"](?:parent_asin|asin)['"]\s*:\s*['"]([^'"]+)['"]""")


def find_files(path: str | Path) -> tuple[Path, Path | None]:
    """(review file, metadata file or None)."""
    path = existing_path(path, "an Amazon review file or a folder with one")
    if path.is_file():
        return path, None
    files = sorted(regular_file(p, "an Amazon review or metadata file") for p in path.iterdir()
                   if p.name.lower().endswith(DATA_SUFFIXES) and not p.is_dir())
    meta = [p for p in files if p.name.lower().startswith("meta")]
    reviews = [p for p in files if p not in meta]
    if len(reviews) != 1:
        raise LLMRecError(
            f"{path}: expected exactly one review file (*.json[l][.gz]) besides meta*, found {len(reviews)}"
            + (f": {', '.join(p.name for p in reviews)}" if reviews else "")
        )
    if len(meta) > 1:
        raise LLMRecError(f"{path}: expected at most one metadata file (meta*), found {', '.join(p.name for p in meta)}")
    return reviews[0], (meta[0] if meta else None)


def source_files(path: str | Path) -> list[Path]:
    reviews, meta = find_files(path)
    return [reviews] + ([meta] if meta else [])


def parse_record(line: str, path: Path, number: int) -> dict[str, Any]:
    """A JSON object, or failing that a Python-literal dict (2014 metadata)."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as json_error:
        try:
            with warnings.catch_warnings():  # compiling a broken line warns ("invalid decimal literal") to stderr
                warnings.simplefilter("ignore", SyntaxWarning)
                record = ast.literal_eval(line)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            reason = "nested too deeply" if isinstance(json_error, RecursionError) else json_error
            raise LLMRecError(f"{path}:{number}: expected a JSON object per line ({reason})") from None
    if not isinstance(record, dict):
        raise LLMRecError(f"{path}:{number}: expected a JSON object per line, got {type(record).__name__}")
    return record


def _value(record: dict, key: str, path: Path, number: int) -> Any:
    try:
        return record[key]
    except KeyError:
        raise LLMRecError(f"{path}:{number}: missing key {key!r}") from None


def _text(record: dict, key: str) -> str:
    value = record.get(key)
    return "" if value is None else str(value).strip()


def read_reviews(path: Path) -> dict[str, list]:
    cols: dict[str, list] = {k: [] for k in ("user_id", "item_id", "rating", "timestamp", "summary", "text")}
    keys, ts_scale = None, 1
    for number, line in nonempty_lines(path):
        record = parse_record(line, path, number)
        if keys is None:
            if "reviewerID" in record:
                keys, ts_scale = KEYS_2014, 1
            elif "user_id" in record:
                keys, ts_scale = KEYS_2023, 1000  # 2023 times are milliseconds
            else:
                raise LLMRecError(
                    f"{path}:{number}: expected review keys {', '.join(KEYS_2014[:4])} (2014/2018) "
                    f"or {', '.join(KEYS_2023[:4])} (2023)"
                )
        user_key, item_key, rating_key, time_key, summary_key, text_key = keys
        if item_key == "parent_asin" and item_key not in record and "asin" in record:
            item_key = "asin"
        for key in (user_key, item_key):
            if not _text(record, key):
                raise LLMRecError(f"{path}:{number}: missing key {key!r}")
        cols["user_id"].append(str(record[user_key]))
        cols["item_id"].append(str(record[item_key]))
        where = f"{path}:{number}"
        cols["rating"].append(rating(_value(record, rating_key, path, number), where, rating_key))
        cols["timestamp"].append(unix_time(_value(record, time_key, path, number), where, time_key, ts_scale))
        # The dumps escape text as HTML ("&amp;", "&quot;"), titles included: unescaped for prompts and references.
        cols["summary"].append(html.unescape(_text(record, summary_key)))
        cols["text"].append(html.unescape(_text(record, text_key)))
    return cols


def meta_category(record: dict) -> str:
    categories = record.get("categories") or record.get("category")
    if isinstance(categories, list) and categories:
        first = categories[0]
        # 2014: a list of category paths; 2018/2023: one flat path.
        return join_category(first if isinstance(first, list) else categories)
    return _text(record, "main_category")


def read_metadata(path: Path, wanted: set[str]) -> dict[str, tuple[str, str]]:
    """asin -> (title, category) for the wanted asins; other lines are skipped unparsed (fast)."""
    found: dict[str, tuple[str, str]] = {}
    for number, line in nonempty_lines(path):
        asins = ASIN_IN_LINE.findall(line)
        if asins and not wanted.intersection(asins):
            continue
        record = parse_record(line, path, number)
        asin = _text(record, "parent_asin") or _text(record, "asin")
        if not asin:
            raise LLMRecError(f"{path}:{number}: missing key 'asin' (or 'parent_asin')")
        if asin in wanted and asin not in found:
            found[asin] = (html.unescape(_text(record, "title")), meta_category(record))
    return found


def load_amazon(path: str | Path, kcore: int = 5, name: str | None = None) -> Dataset:
    review_path, meta_path = find_files(path)
    cols = read_reviews(review_path)
    reviews = reviews_frame(
        cols["user_id"], cols["item_id"], cols["rating"], cols["timestamp"], cols["text"], cols["summary"]
    )
    reviews = kcore_filter(reviews, kcore)
    if reviews.empty:
        raise LLMRecError(f"{review_path}: no reviews left after {kcore}-core filtering (try a smaller kcore)")
    asins = reviews["item_id"].unique()
    meta = read_metadata(meta_path, set(asins)) if meta_path else {}
    titles = [meta.get(a, ("", ""))[0] or a for a in asins]  # no metadata: the asin is the title
    categories = [meta.get(a, ("", ""))[1] for a in asins]
    return Dataset(
        name=name or f"amazon:{path}",
        items=items_frame(asins, titles, categories),
        interactions=interactions_frame(
            reviews["user_id"], reviews["item_id"], reviews["rating"], reviews["timestamp"].to_numpy(np.int64)
        ),
        reviews=reviews,
        source_files=[review_path] + ([meta_path] if meta_path else []),
    )
