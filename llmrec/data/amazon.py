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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from llmrec.data import columnar
from llmrec.data.columnar import kcore_rows
from llmrec.data.model import Dataset
from llmrec.data.protocols import DEFAULT_KCORE
from llmrec.data.sources import (
    as_float,
    existing_path,
    interactions_frame,
    items_frame,
    join_category,
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
# The metadata keys read (2014's list of category paths is Python literals, read line by line).
META_COLUMNS = {"asin": pa.string(), "parent_asin": pa.string(), "title": pa.string(),
                "categories": pa.list_(pa.string()), "category": pa.list_(pa.string()), "main_category": pa.string(),
                "brand": pa.string(), "store": pa.string()}
NO_META = ("", "", "")  # (title, category, brand) of an item the metadata does not name
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


@dataclass(frozen=True)
class ReviewFormat:
    """A release's review keys (user, item, rating, time, summary, text) and its time units per second."""

    keys: tuple[str, ...]
    per_second: int


RELEASES = {"reviewerID": ReviewFormat(KEYS_2014, 1),  # 2014 and 2018
            "user_id": ReviewFormat(KEYS_2023, 1000)}  # 2023 times are milliseconds


def review_format(path: Path) -> ReviewFormat:
    """The release, told by the first record's keys."""
    number, line = next(iter(nonempty_lines(path)))
    record = parse_record(line, path, number)
    for key, release in RELEASES.items():
        if key in record:
            return release
    raise LLMRecError(
        f"{path}:{number}: expected review keys {', '.join(KEYS_2014[:4])} (2014/2018) "
        f"or {', '.join(KEYS_2023[:4])} (2023)"
    )


def clean_text(value: str) -> str:
    # The dumps escape text as HTML ("&amp;", "&quot;"), titles included: unescaped for prompts and references.
    return html.unescape(value.strip())


def line_records(path: Path, release: ReviewFormat) -> Iterator[tuple]:
    """(user, item, rating, seconds, summary, text, milliseconds) per review, read line by line: the reader of
    record, which names the file and line of a bad one. Texts are as written (stripped), not yet unescaped;
    milliseconds are exact (2014/2018: seconds * 1000), for the amazon split protocols."""
    for number, line in nonempty_lines(path):
        record = parse_record(line, path, number)
        user_key, item_key, rating_key, time_key, summary_key, text_key = release.keys
        if item_key == "parent_asin" and item_key not in record and "asin" in record:
            item_key = "asin"
        for key in (user_key, item_key):
            if not _text(record, key):
                raise LLMRecError(f"{path}:{number}: missing key {key!r}")
        where = f"{path}:{number}"
        time = _value(record, time_key, path, number)
        yield (str(record[user_key]), str(record[item_key]),
               rating(_value(record, rating_key, path, number), where, rating_key),
               unix_time(time, where, time_key, release.per_second),
               _text(record, summary_key), _text(record, text_key), int(as_float(time)) * (1000 // release.per_second))


def earliest_reviews(users: np.ndarray, items: np.ndarray, ms: np.ndarray) -> np.ndarray:
    """Rows (as a mask) that are the earliest review of their (user, item) pair by `ms`, ties: the first in the
    file (np.lexsort is stable). The Amazon Reviews 2023 benchmark removes the others before k-core."""
    pairs = users.astype(np.int64) * (int(items.max(initial=0)) + 1) + items
    order = np.lexsort((ms, pairs))
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = pairs[order][1:] != pairs[order][:-1]
    first = np.zeros(len(pairs), dtype=bool)
    first[order[starts]] = True
    return first


def kept_reviews(users: np.ndarray, items: np.ndarray, ms: np.ndarray, kcore: int, dedupe: bool,
                 counts: dict | None) -> np.ndarray:
    """Rows (as a mask) of the k-core, of the earliest reviews of each pair only when `dedupe`. What each step
    drops goes into `counts`, if given. `users`, `items`: integer codes from 0."""
    keep = earliest_reviews(users, items, ms) if dedupe else np.ones(len(users), dtype=bool)
    deduped = int(keep.sum())
    keep[np.flatnonzero(keep)[~kcore_rows(users[keep], items[keep], kcore)]] = False
    if counts is not None:
        counts["reviews_in_source"] = len(users)
        if dedupe:
            counts["duplicate_reviews_dropped"] = len(users) - deduped
        counts["reviews_outside_kcore"] = deduped - int(keep.sum())
    return keep


def with_milliseconds(reviews: pd.DataFrame, ms: np.ndarray) -> pd.DataFrame:
    reviews["timestamp_ms"] = np.asarray(ms, dtype=np.int64)
    return reviews


def line_kcore(path: Path, release: ReviewFormat, kcore: int, dedupe: bool = False,
               counts: dict | None = None) -> pd.DataFrame:
    """The k-core's reviews by the line reader, in two passes like the engine's: the whole file is checked and
    its ids kept first, then only the kept reviews' texts are read. `dedupe`, `counts`: as in kept_reviews."""
    users, items, ratings, seconds, millis = [], [], [], [], []
    for user, item, stars, second, _, _, milli in line_records(path, release):
        users.append(user)
        items.append(item)
        ratings.append(stars)
        seconds.append(second)
        millis.append(milli)
    ms = np.asarray(millis, dtype=np.int64)
    keep = kept_reviews(pd.factorize(pd.Series(users, dtype=object))[0],
                        pd.factorize(pd.Series(items, dtype=object))[0], ms, kcore, dedupe, counts)
    texts = [(clean_text(text), clean_text(summary))
             for (_, _, _, _, summary, text, _), kept in zip(line_records(path, release), keep) if kept]
    text, summary = (list(column) for column in zip(*texts)) if texts else ([], [])
    reviews = reviews_frame(np.asarray(users, dtype=object)[keep], np.asarray(items, dtype=object)[keep],
                            np.asarray(ratings, dtype=np.float64)[keep], np.asarray(seconds, dtype=np.int64)[keep],
                            text, summary)
    return with_milliseconds(reviews, ms[keep])


def engine_kcore(path: Path, release: ReviewFormat, kcore: int, dedupe: bool = False,
                 counts: dict | None = None) -> pd.DataFrame:
    """The k-core's reviews in one streaming pass: ids, ratings and times stay in memory, texts wait in a spill
    file until the k-core is known, so memory holds the kept reviews' texts, not the file's. Raises
    columnar.Refused. `dedupe`, `counts`: as in kept_reviews."""
    user_key, item_key, rating_key, time_key, summary_key, text_key = release.keys
    columns = {user_key: pa.string(), item_key: pa.string(), rating_key: pa.float64(), time_key: pa.float64(),
               summary_key: pa.string(), text_key: pa.string()}
    parts: dict[str, list] = {k: [] for k in ("user_id", "item_id", "rating", "timestamp", "timestamp_ms")}
    with columnar.Spill([summary_key, text_key]) as spill:
        for batch in columnar.batches(path, columns):
            parts["user_id"].append(columnar.identifier(batch[user_key]))
            parts["item_id"].append(columnar.identifier(batch[item_key]))
            parts["rating"].append(columnar.ratings(batch[rating_key]))
            parts["timestamp"].append(columnar.unix_seconds(batch[time_key], release.per_second))
            # checked by unix_seconds: finite, no nulls
            parts["timestamp_ms"].append(np.trunc(batch[time_key].to_numpy(zero_copy_only=False)).astype(np.int64)
                                         * (1000 // release.per_second))
            spill.write(batch)
        users, items = (pa.chunked_array(parts[k], pa.string()).combine_chunks().dictionary_encode()
                        for k in ("user_id", "item_id"))
        ms = np.concatenate(parts["timestamp_ms"])
        keep = kept_reviews(users.indices.to_numpy(), items.indices.to_numpy(), ms, kcore, dedupe, counts)
        texts: dict[str, list] = {summary_key: [], text_key: []}
        for batch in spill.kept(keep):  # cleaned a batch at a time: the kept texts are held once
            for key, chunks in texts.items():
                chunks.append(columnar.cleaned_texts(batch[key], clean_text))

    def kept_strings(encoded: pa.DictionaryArray) -> pd.Series:
        return encoded.dictionary.take(encoded.indices.filter(pa.array(keep))).to_pandas()

    reviews = reviews_frame(
        kept_strings(users), kept_strings(items),
        np.concatenate(parts["rating"])[keep], np.concatenate(parts["timestamp"])[keep],
        # one contiguous array per column: taking rows of a chunked one (prepare sorts them) copies it whole first
        *(pa.chunked_array(texts[k], pa.string()).combine_chunks().to_pandas() for k in (text_key, summary_key)),
    )
    return with_milliseconds(reviews, ms[keep])


def meta_category(record: dict) -> str:
    categories = record.get("categories") or record.get("category")
    if isinstance(categories, list) and categories:
        first = categories[0]
        # 2014: a list of category paths; 2018/2023: one flat path.
        return join_category(first if isinstance(first, list) else categories)
    return _text(record, "main_category")


def meta_entry(record: dict, path: Path, number: int | None) -> tuple[str, tuple[str, str, str]]:
    """(asin, (title, category, brand)) of one metadata record; the 2023 parent_asin is the item when present,
    and its store the brand (2023 has no brand key)."""
    asin = _text(record, "parent_asin") or _text(record, "asin")
    if not asin:
        raise LLMRecError(f"{path}:{number}: missing key 'asin' (or 'parent_asin')")
    brand = _text(record, "brand") or _text(record, "store")
    return asin, (html.unescape(_text(record, "title")), meta_category(record), html.unescape(brand))


def line_metadata(path: Path, wanted: set[str]) -> dict[str, tuple[str, str, str]]:
    """Line by line (2014's Python literals, anything the engine refuses); lines naming no wanted asin are
    skipped unparsed."""
    found: dict[str, tuple[str, str, str]] = {}
    for number, line in nonempty_lines(path):
        asins = ASIN_IN_LINE.findall(line)
        if asins and not wanted.intersection(asins):
            continue
        asin, entry = meta_entry(parse_record(line, path, number), path, number)
        if asin in wanted:
            found.setdefault(asin, entry)
    return found


def engine_metadata(path: Path, wanted: set[str]) -> dict[str, tuple[str, str, str]]:
    """The JSON metadata (2018, 2023) in the engine: only rows whose asin may be wanted become Python records."""
    found: dict[str, tuple[str, str, str]] = {}
    wanted_ids = pa.array(sorted(wanted), pa.string())
    for batch in columnar.batches(path, META_COLUMNS):
        asin, parent = batch["asin"], batch["parent_asin"]
        columnar.require(pc.or_kleene(pc.is_valid(asin), pc.is_valid(parent)))  # else the line reader names it
        # as the line reader: a line is used when its asin or parent_asin, as written, is wanted
        maybe = pc.fill_null(pc.or_kleene(pc.is_in(asin, wanted_ids), pc.is_in(parent, wanted_ids)), False)
        for record in batch.filter(maybe).to_pylist():
            asin, entry = meta_entry(record, path, None)
            if asin in wanted:
                found.setdefault(asin, entry)
    return found


def read_metadata(path: Path, wanted: set[str]) -> dict[str, tuple[str, str, str]]:
    """asin -> (title, category, brand) for the wanted asins, the first line naming each."""
    try:
        return engine_metadata(path, wanted)
    except columnar.Refused:
        return line_metadata(path, wanted)


def load_amazon(path: str | Path, kcore: int = DEFAULT_KCORE, name: str | None = None, dedupe: bool = False) -> Dataset:
    """The dump's k-core; `dedupe`: repeated reviews of a (user, item) pair dropped first (the earliest kept,
    counted in stats["duplicate_reviews_dropped"]). Interactions and reviews carry an int64 `timestamp_ms`."""
    review_path, meta_path = find_files(path)
    release = review_format(review_path)
    stats: dict = {}
    try:
        reviews = engine_kcore(review_path, release, kcore, dedupe, stats)
    except columnar.Refused:  # something the engine does not type: the line reader accepts it or names the line
        reviews = line_kcore(review_path, release, kcore, dedupe, stats)
    if reviews.empty:
        raise LLMRecError(f"{review_path}: no reviews left after {kcore}-core filtering (try a smaller kcore)")
    asins = reviews["item_id"].unique()
    meta = read_metadata(meta_path, set(asins)) if meta_path else {}
    entries = [meta.get(a, NO_META) for a in asins]
    titles = [e[0] or a for e, a in zip(entries, asins)]  # no metadata: the asin is the title
    interactions = interactions_frame(
        reviews["user_id"], reviews["item_id"], reviews["rating"], reviews["timestamp"].to_numpy(np.int64)
    )
    return Dataset(
        name=name or f"amazon:{path}",
        items=items_frame(asins, titles, [e[1] for e in entries], [e[2] for e in entries]),
        interactions=with_milliseconds(interactions, reviews["timestamp_ms"].to_numpy()),
        reviews=reviews,
        source_files=[review_path] + ([meta_path] if meta_path else []),
        stats=stats,
    )
