"""A dataset loaded with `datasets.load_dataset(NAME)`: a hub id or a local folder/file.

Columns are matched by common names (user_id/userId/reviewerID, item_id/asin/parent_asin, ...).
All splits the dataset has are concatenated in their order; `prepare` makes its own splits.
Without a network the hub's client retries for ~25 s; a 3-second probe first switches it to
offline mode, so a dataset in the local cache still loads and a missing one fails at once.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from llmrec.data.model import Dataset
from llmrec.data.sources import (
    as_float,
    existing_path,
    interactions_frame,
    items_frame,
    outside_scale,
    require,
    reviews_frame,
    valid_times,
)
from llmrec.errors import LLMRecError

ALIASES = {
    "user_id": ("user_id", "userId", "user", "uid", "reviewerID", "reviewer_id", "customer_id"),
    "item_id": ("item_id", "itemId", "item", "iid", "parent_asin", "asin", "movie_id", "movieId", "product_id", "business_id"),
    "rating": ("rating", "overall", "stars", "score", "star_rating"),
    "timestamp": ("timestamp", "unixReviewTime", "time", "date", "review_date"),
    "text": ("text", "reviewText", "review_text", "review_body", "review"),
    "summary": ("summary", "review_title", "review_headline", "headline"),
    "explanation": ("explanation",),
    "title": ("item_title", "product_title", "movie_title", "item_name", "title"),
    "category": ("category", "categories", "main_category", "genres", "genre"),
    "brand": ("brand", "store"),
}
PROBE_TIMEOUT_S = 3.0


def _hub_reachable() -> bool:
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=PROBE_TIMEOUT_S).close()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def _offline():
    """Offline mode for one call; the flags are read from module constants at call time."""
    import datasets.config
    import huggingface_hub.constants

    saved = (datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE)
    datasets.config.HF_HUB_OFFLINE = huggingface_hub.constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE = saved


def fetch_frame(name: str) -> pd.DataFrame:
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "30")
    import datasets

    local = Path(name).expanduser().exists()
    if local:
        existing_path(name, "a dataset folder or file")
    offline = not local and not _hub_reachable()
    try:
        with _offline() if offline else contextlib.nullcontext():
            loaded = datasets.load_dataset(str(Path(name).expanduser()) if local else name)
    except Exception as e:  # the hub client raises many types (ConnectionError, HfHubHTTPError, ...)
        reason = " ".join(str(e).split())[:200]
        hint = " (no network: only datasets already in the local Hugging Face cache can load)" if offline else ""
        raise LLMRecError(f"hf:{name}: cannot load the dataset{hint}: {type(e).__name__}: {reason}") from None
    parts = list(loaded.values()) if isinstance(loaded, datasets.DatasetDict) else [loaded]
    return pd.concat([p.to_pandas() for p in parts], ignore_index=True)


def _column(df: pd.DataFrame, role: str) -> str | None:
    return next((c for c in ALIASES[role] if c in df.columns), None)


def _numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(floats, NaN where missing; mask of values present but no number: "five", a list)."""
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(np.float64), np.zeros(len(values), dtype=bool)
    parsed = [as_float(v) for v in values]
    floats = np.array([np.nan if v is None else v for v in parsed], dtype=np.float64)
    return floats, np.array([v is None for v in parsed], dtype=bool) & ~values.isna().to_numpy()


def _ratings(values: pd.Series, where, column: str) -> tuple[np.ndarray, int]:
    """Ratings (NaN: unrated), and how many were off the rating task's scale and so left unrated."""
    ratings, not_number = _numbers(values)
    require(~not_number, where, f"a number for {column!r}", lambda row: values.iloc[row])
    require(~np.isinf(ratings), where, f"a finite number for {column!r}", lambda row: values.iloc[row])
    off_scale = outside_scale(ratings)
    return np.where(off_scale, np.nan, ratings), int(off_scale.sum())


def _parse_dates(values: pd.Series) -> pd.Series:
    try:
        parsed = pd.to_datetime(values, errors="coerce", utc=True)
        if parsed.isna().any():  # the format is inferred from the first value: parse the others one by one
            parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    except (TypeError, ValueError, OverflowError):
        parsed = pd.Series([_one_date(v) for v in values], dtype="datetime64[ns, UTC]")
    return parsed


def _one_date(value) -> pd.Timestamp:
    try:
        return pd.to_datetime(value, utc=True)
    except (TypeError, ValueError, OverflowError):
        return pd.NaT


def _timestamps(values: pd.Series, where, column: str) -> np.ndarray:
    """Unix seconds from numbers (milliseconds when that large) or dates; a missing or unreadable one is an
    error (as 0 it would move the row to the start of the user's history)."""
    expected = f"a date or Unix time for {column!r}"
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        ts = values.to_numpy(np.float64)
        require(~np.isnan(ts), where, expected, lambda row: values.iloc[row])
        ts = ts // 1000 if ts.size and ts.max() > 1e11 else ts  # milliseconds -> seconds
        require(valid_times(ts), where, f"{expected} (a finite number, |t| < 2**53 s)", lambda row: values.iloc[row])
        return ts.astype(np.int64)
    parsed = _parse_dates(values)
    require(parsed.notna().to_numpy(), where, expected, lambda row: values.iloc[row])
    # Whole seconds whatever the parsed resolution (pandas may give ns, us or s).
    return ((parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "s")).to_numpy(np.int64)


def _as_text(values) -> list[str]:
    return [", ".join(map(str, v)) if isinstance(v, (list, tuple, np.ndarray)) else ("" if v is None else str(v)) for v in values]


def load_hf(name: str) -> Dataset:
    # A CSV saved with a byte order mark keeps it in its first column name.
    df = fetch_frame(name).rename(columns=lambda c: c.lstrip("\ufeff") if isinstance(c, str) else c)
    cols = {role: _column(df, role) for role in ALIASES}
    for role in ("user_id", "item_id"):
        if cols[role] is None:
            raise LLMRecError(
                f"hf:{name}: no {role} column; expected one of {', '.join(ALIASES[role])}, found {', '.join(map(str, df.columns))}"
            )
    where = lambda row: f"hf:{name}: row {row + 1}"  # noqa: E731 - 1-based over the splits in their order
    for role in ("user_id", "item_id"):
        require(df[cols[role]].notna().to_numpy(), where, f"a value for {cols[role]!r}", lambda row: None)
    user, item = df[cols["user_id"]].astype(str), df[cols["item_id"]].astype(str)
    rating, stats = np.full(len(df), np.nan), {}
    if cols["rating"]:
        rating, stats["ratings_outside_scale"] = _ratings(df[cols["rating"]], where, cols["rating"])
    if cols["timestamp"]:
        ts = _timestamps(df[cols["timestamp"]], where, cols["timestamp"])
    else:
        ts = np.arange(len(df), dtype=np.int64)
    catalog = pd.DataFrame({"item_id": item})
    catalog["title"] = _as_text(df[cols["title"]]) if cols["title"] else ""
    catalog["category"] = _as_text(df[cols["category"]]) if cols["category"] else ""
    catalog["brand"] = _as_text(df[cols["brand"]]) if cols["brand"] else ""
    catalog = catalog.drop_duplicates("item_id")
    reviews = None
    if cols["text"]:
        summary = _as_text(df[cols["summary"]]) if cols["summary"] else [""] * len(df)
        explanation = _as_text(df[cols["explanation"]]) if cols["explanation"] else None
        reviews = reviews_frame(user, item, rating, ts, _as_text(df[cols["text"]]), summary, explanation)
    return Dataset(
        name=f"hf:{name}",
        items=items_frame(catalog["item_id"], catalog["title"], catalog["category"], catalog["brand"]),
        interactions=interactions_frame(user, item, rating, ts),
        reviews=reviews,
        source_files=[],
        stats=stats,
    )
