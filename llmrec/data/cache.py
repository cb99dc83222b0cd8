"""The prepared-data cache: where it lives, the fingerprint naming an entry, and reading and writing one.

An entry is a folder `<dataset>-<fingerprint[:12]>` holding the frames as parquet, negatives.npy and a
manifest with every file's sha256 and its own (over the rest of the manifest: its stats and settings are
read from it, so a damaged manifest must not pass for a valid one). The fingerprint hashes the source files'
contents and the settings, so a changed source or setting is a new entry; source hashes are remembered by
(path, size, mtime).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from llmrec.data.model import Prepared
from llmrec.errors import LLMRecError
from llmrec.hashing import sha256_file

FORMAT_VERSION = "llmrec-prepared/1"
HASH_TABLE = ".source-hashes.json"
FRAMES = ("items", "interactions", "ratings", "reviews")
FILES = {f"{n}.parquet" for n in FRAMES} | {"negatives.npy"}  # an entry's files, each hashed in its manifest
SHA256 = re.compile(r"[0-9a-f]{64}")
# What a damaged or foreign JSON file can raise when read: it is then ignored (hashes) or prepared again (entry).
UNREADABLE = (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError)


def _read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def default_cache_dir() -> Path:
    """prepared/ in llmrec.home.data_dir(): $LLMREC_DATA_DIR, else $LLMREC_HOME/data, else ./data."""
    from llmrec.home import data_dir

    return data_dir() / "prepared"


def safe_name(name: str) -> str:
    """A folder-name form of a dataset name: 'amazon:/x/Beauty.json.gz' -> 'amazon-Beauty.json.gz'."""
    kind, sep, arg = name.partition(":")
    base = f"{kind}-{Path(arg.rstrip('/')).name or arg}" if sep else name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.")[:64] or "dataset"


class SourceHashes:
    """sha256 of source files, remembered by (path, size, mtime) so warm calls skip re-hashing.
    The table is written only by `save()`, after a successful preparation."""

    def __init__(self, cache_dir: Path):
        self.path = cache_dir / HASH_TABLE
        self.changed = False
        try:
            table = _read_json(self.path)
        except UNREADABLE:
            table = {}
        # Only well-formed entries are kept: anything else is hashed again (and dropped from the table).
        self.table = {k: v for k, v in table.items() if _hash_entry(v)} if isinstance(table, dict) else {}

    def sha256(self, path: Path) -> str:
        stat = path.stat()
        key = str(path.resolve())
        entry = self.table.get(key)
        if entry is not None and entry["size"] == stat.st_size and entry["mtime_ns"] == stat.st_mtime_ns:
            return entry["sha256"]
        try:
            sha = sha256_file(path)
        except OSError as e:
            raise LLMRecError(f"{path}: cannot read ({e})") from None
        self.table[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha}
        self.changed = True
        return sha

    def save(self) -> None:
        if not self.changed:
            return
        from llmrec.files import write_text

        write_text(self.path, json.dumps(self.table, indent=1, sort_keys=True))
        self.changed = False


def _hash_entry(entry) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and bool(SHA256.fullmatch(entry["sha256"]))
            and all(type(entry.get(k)) is int for k in ("size", "mtime_ns")))


def fingerprint(name: str, source_hashes: list[str], settings: dict, loader_version: int = 1) -> str:
    payload = {"format": FORMAT_VERSION, "name": name, "sources": source_hashes, "settings": settings}
    if loader_version != 1:  # version 1 is left out: the fingerprints of loaders never raised stay as they were
        payload["loader"] = loader_version
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """One string dtype for text columns so cold and warm results and files agree."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].astype(str)
    return frame


def manifest_digest(manifest: dict) -> str:
    """sha256 of the manifest without its own digest, in canonical JSON."""
    rest = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


def write_prepared(prepared: Prepared, folder: Path, manifest: dict) -> None:
    """Write into a temporary sibling folder, then rename: readers never see a half-written cache."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        _text_columns(prepared.items).to_parquet(tmp / "items.parquet", index=True)
        for frame_name in FRAMES[1:]:
            _text_columns(getattr(prepared, frame_name)).to_parquet(tmp / f"{frame_name}.parquet", index=False)
        np.save(tmp / "negatives.npy", prepared.negatives, allow_pickle=False)
        written = sorted(p.name for p in tmp.iterdir())
        manifest = {**manifest, "files": {n: sha256_file(tmp / n) for n in written}}
        manifest["manifest_sha256"] = manifest_digest(manifest)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if folder.exists():  # refresh, or a damaged earlier copy
            stale = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
            os.replace(folder, stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(tmp, folder)
        except OSError:
            if not (folder / "manifest.json").is_file():  # not a concurrent writer's finished copy
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_prepared(folder: Path, expected_fingerprint: str, verify: bool = True) -> Prepared | None:
    """The cached preparation, or None when absent, from another fingerprint, damaged or of a foreign shape."""
    try:
        manifest = _read_json(folder / "manifest.json")
        if manifest.get("format") != FORMAT_VERSION or manifest.get("fingerprint") != expected_fingerprint:
            return None
        if manifest.get("manifest_sha256") != manifest_digest(manifest):
            return None
        files = manifest["files"]
        if set(files) != FILES or not isinstance(manifest["stats"], dict):
            return None
        if verify and any(sha256_file(folder / n) != sha for n, sha in files.items()):
            return None
        frames = {n: pd.read_parquet(folder / f"{n}.parquet") for n in FRAMES}
        negatives = np.load(folder / "negatives.npy", allow_pickle=False)
        return Prepared(
            name=manifest["name"],
            fingerprint=manifest["fingerprint"],
            seed=manifest["settings"]["seed"],
            negatives=negatives,
            stats=manifest["stats"],
            **frames,
        )
    except UNREADABLE:
        return None
