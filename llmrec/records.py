"""Run records: one folder per run with manifest.json, samples.jsonl and metrics.json.

samples.jsonl is appended and flushed as samples complete, so a killed run loses at most the samples in
flight; re-running the same command reads it back and skips what is answered. A sample whose requests
failed is recorded with `failed` (the error) instead of an answer, so it is counted but never scored as
one, and a re-run asks for it again (its answer's line then supersedes the failed one).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Iterable

from llmrec.errors import LLMRecError
from llmrec.files import read_json, write_json, write_text  # noqa: F401 - the run records' writers

FORMAT = 1
# The files of a run folder.
SAMPLES_FILE, METRICS_FILE, MANIFEST_FILE = "samples.jsonl", "metrics.json", "manifest.json"


def settings_hash(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def run_id(model: str, settings: dict[str, Any]) -> str:
    slug = "".join(c if c.isalnum() or c in "-._" else "-" for c in model.strip("/").split("/")[-1])
    return f"{slug}__{settings_hash(settings)[:10]}"


class SampleLog:
    """The append-only per-sample log of a run, keyed by (task, sample_id).

    `SampleLog(path)` opens it for appending: a last line cut short by a kill is left out and removed
    from the file, so the next append starts a line of its own. `SampleLog.read(path)` loads it
    read-only: the cut line is left out the same way, but no file is created or changed. A blank line
    holds no record."""

    KEYS = ("task", "sample_id")

    def __init__(self, path: Path, *, read_only: bool = False, required: tuple[str, ...] = KEYS):
        self.path = path
        self.read_only = read_only
        self.records: dict[tuple[str, str], dict] = {}
        self.dropped_partial = 0  # a line cut short by a kill, left out
        if path.exists():
            self._load(required)

    @classmethod
    def read(cls, path: Path, required: tuple[str, ...] = KEYS) -> "SampleLog":
        """The recorded samples, without touching the file; every record must hold the `required` keys."""
        return cls(path, read_only=True, required=required)

    def _load(self, required: tuple[str, ...]) -> None:
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]  # a kill can leave a last line without its newline
        if len(complete) != len(data):
            self.dropped_partial = 1
            if not self.read_only:
                with open(self.path, "r+b") as f:
                    f.truncate(len(complete))
        for n, line in enumerate(complete.decode().splitlines(), start=1):
            if line.strip():
                self._add(n, line, required)

    def _add(self, n: int, line: str, required: tuple[str, ...]) -> None:
        try:
            record = json.loads(line)
            if isinstance(record, dict) and all(k in record for k in required):
                self.records[(record["task"], record["sample_id"])] = record
                return
        except (json.JSONDecodeError, TypeError):  # TypeError: a task or sample_id that is no key
            pass
        keys = ", ".join(required[:-1]) + " and " + required[-1]
        hint = "" if self.read_only else "; fix or delete the line, or re-run with --fresh"
        raise LLMRecError(f"{self.path}:{n}: expected a JSON sample record with {keys}{hint}")

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self.records

    def append(self, records: Iterable[dict]) -> None:
        if self.read_only:
            raise ValueError(f"{self.path}: loaded read-only, not for appending")
        records = list(records)
        lines = "".join(json.dumps(r, default=str) + "\n" for r in records)
        if not lines:
            return
        with open(self.path, "a") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())
        for r in records:
            self.records[(r["task"], r["sample_id"])] = r


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("llmrec", "torch", "transformers", "peft", "accelerate", "datasets", "numpy", "pandas",
                 "rouge-score", "rapidfuzz", "openai", "vllm", "gguf"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpu_count": os.cpu_count()}
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["cuda"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        pass
    return info
