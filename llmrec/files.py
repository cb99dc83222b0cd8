"""Writing and reading llmrec's own files: one atomic write, one JSON and one YAML read with one-line errors.

A write goes to a temp file in the target's folder and is renamed over the target, so a reader (or CI)
never sees half a file; the temp file is removed on any failure, an interrupt included. The file gets
the mode a plain `open()` would give it (0o666 less the umask: 0o644 under the usual umask 022), not
the owner-only mode of `tempfile.mkstemp`: results and baselines are meant to be shared. A destination
that cannot be written (a folder, a path under a file, no permission) is one LLMRecError naming it.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

from llmrec.errors import LLMRecError, where

# O_EXCL: never reuse a name another writer holds; O_NOFOLLOW: never write through a planted link.
_TEMP_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
_TEMP_ATTEMPTS = 100


def _create_temp(path: Path) -> tuple[int, Path]:
    """An exclusive new file next to `path`; the kernel applies the umask to its 0o666 mode."""
    for _ in range(_TEMP_ATTEMPTS):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: no free temp file name next to it after {_TEMP_ATTEMPTS} attempts")


@contextmanager
def atomic_open(path: Path, *, binary: bool = False, fsync: bool = False) -> Iterator[IO[Any]]:
    """A file to write `path` through: renamed into place when the block ends, removed if it raises.

    `fsync`: flush the data to disk before the rename, for files that must survive a power cut.
    Text is written as UTF-8 with "\\n" line ends on every platform.
    """
    path = Path(path)
    if path.is_dir():
        raise LLMRecError(f"{path}: is a folder; expected a file path to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(path)
    except OSError as exc:
        raise LLMRecError(f"{path}: cannot write ({unwritable(path.parent, exc)})") from None
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="\n")) as handle:
            yield handle
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # a full disk, a target that turned into a folder meanwhile
            raise LLMRecError(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise


def nearest_existing(path: Path) -> Path:
    """`path` itself, or the closest of its parents that exists (what decides whether it can be created)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def unwritable(folder: Path, exc: OSError) -> str:
    """Why files cannot be made under `folder`, in words."""
    existing = nearest_existing(folder)
    if existing.exists() and not existing.is_dir():
        return f"{existing} is a file, not a folder"
    return exc.strerror or str(exc)


def check_writable_folder(folder: Path, what: str) -> None:
    """Refuse, before anything is written, a folder llmrec is to create files under but cannot; `what` names
    where the folder came from (an option or an environment variable)."""
    existing = nearest_existing(folder)
    if existing.exists() and not existing.is_dir():
        raise LLMRecError(f"{what} {folder}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise LLMRecError(f"{what} {folder}: {existing} is not writable")


def write_text(path: Path, text: str, *, fsync: bool = False) -> None:
    with atomic_open(path, fsync=fsync) as handle:
        handle.write(text)


def write_bytes(path: Path, data: bytes, *, fsync: bool = False) -> None:
    with atomic_open(path, binary=True, fsync=fsync) as handle:
        handle.write(data)


def write_json(path: Path, data: Any, *, fsync: bool = False) -> None:
    """Indented JSON plus a final newline; values json cannot encode are written as str()."""
    with atomic_open(path, fsync=fsync) as handle:
        json.dump(data, handle, indent=2, default=str)  # streamed: a failure midway leaves no temp file
        handle.write("\n")


def read_json(path: Path, expected: str | None = None) -> Any:
    """The JSON in `path`; a missing, unreadable or malformed file is one LLMRecError line naming it.

    `expected` says what the file should have been (e.g. "metrics.json of a run"), for the missing case.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LLMRecError(f"{path}: file not found" + (f" (expected {expected})" if expected else "")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LLMRecError(f"{path}: cannot read ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LLMRecError(f"{where(path, exc.lineno)}: invalid JSON ({exc.msg})") from None
    except RecursionError:
        raise LLMRecError(f"{path}: invalid JSON (nested too deeply)") from None


def read_bytes(path: Path) -> bytes:
    """The bytes of `path`; a missing or unreadable file (a folder, no permission) is one LLMRecError line."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise LLMRecError(f"{path}: file not found") from None
    except OSError as exc:
        raise LLMRecError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_yaml(path: Path) -> Any:
    return parse_yaml(read_bytes(path), path)


def parse_yaml(data: bytes, path: Path) -> Any:
    """The YAML in `data`, read from `path` (safe_load: plain data only, nothing executed); bytes that are not
    UTF-8 or YAML that does not parse are one LLMRecError line naming the file (and line)."""
    import yaml

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LLMRecError(f"{where(path, text_line(data, exc.start))}: not UTF-8 text "
                          f"(byte {data[exc.start]:#04x})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise LLMRecError(f"{where(path, mark.line + 1 if mark else None)}: not valid YAML ({problem})") from None
    except RecursionError:
        raise LLMRecError(f"{path}: not valid YAML (nested too deeply)") from None


def text_line(data: bytes, offset: int) -> int:
    """The 1-based line of a byte offset."""
    return data.count(b"\n", 0, offset) + 1


def finite_or_none(value: Any) -> Any:
    """`value` with every non-finite float (NaN, inf) as None: JSON has no NaN, undefined numbers are null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value
