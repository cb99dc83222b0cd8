"""Run records: one folder per run with manifest.json, samples.jsonl and metrics.json.

samples.jsonl is appended and flushed as samples complete, so a killed run loses at most the samples in
flight; re-running the same command reads it back and skips what is answered. A sample whose requests
failed is recorded with `failed` (the error) instead of an answer, so it is counted but never scored as
one, and a re-run asks for it again (its answer's line then supersedes the failed one).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Iterable

from llmrec import files
from llmrec.errors import LLMRecError, shown, where
from llmrec.files import write_json, write_text  # noqa: F401 - the run records' writers

FORMAT = 1
# The files of a run folder.
SAMPLES_FILE, METRICS_FILE, MANIFEST_FILE = "samples.jsonl", "metrics.json", "manifest.json"


def settings_hash(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def run_id(model: str, settings: dict[str, Any]) -> str:
    slug = "".join(c if c.isalnum() or c in "-._" else "-" for c in model.strip("/").split("/")[-1])
    return f"{slug}__{settings_hash(settings)[:10]}"


# What every line of a sample log holds, and what an answered sample's record must hold to be scored again
# (a resumed run, compare); a failed sample's record holds `failed` (the error) instead of an answer.
KEYS = ("task", "sample_id")
RECORD_KEYS = (*KEYS, "prediction", "reference")
FAILED = "failed"


class SampleLog:
    """The append-only per-sample log of a run, keyed by (task, sample_id).

    `SampleLog(path)` opens it for appending: a last line cut short by a kill is left out and removed
    from the file, so the next append starts a line of its own. `SampleLog.read(path)` loads it
    read-only: the cut line is left out the same way, but no file is created or changed. A blank line
    holds no record. Every record must be UTF-8 JSON holding the `required` keys, and what it holds of a
    sample record (prediction, reference, truncated_history) must have the shape bench writes
    (`record_problem`): a record of another shape is refused naming its line, never scored. Opened for
    appending (a run, or a judgment, resumed), a failed sample's record (its error instead of an answer) is
    taken too; a reader that scores every record asks for RECORD_KEYS."""

    def __init__(self, path: Path, *, read_only: bool = False, required: tuple[str, ...] = KEYS):
        self.path = path
        self.read_only = read_only
        self.records: dict[tuple[str, str], dict] = {}
        self.dropped_partial = 0  # a line cut short by a kill, left out
        self.failed_ok = not read_only  # a resumed run asks for its failed samples again
        if path.exists():
            self._load(required)

    @classmethod
    def read(cls, path: Path, required: tuple[str, ...] = KEYS) -> "SampleLog":
        """The recorded samples, without touching the file; every record must hold the `required` keys."""
        return cls(path, read_only=True, required=required)

    def _load(self, required: tuple[str, ...]) -> None:
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]  # a kill can leave a last line without its newline
        for n, line in enumerate(complete.split(b"\n")[:-1], start=1):
            if line.strip():
                self._add(n, line, required)
        if len(complete) != len(data):  # only once every record is known good: a refused log stays as it was
            self.dropped_partial = 1
            if not self.read_only:
                with open(self.path, "r+b") as f:
                    f.truncate(len(complete))

    def _add(self, n: int, line: bytes, required: tuple[str, ...]) -> None:
        try:
            record = json.loads(line.decode("utf-8"))
            problem = record_problem(record, required, failed_ok=self.failed_ok)
        except UnicodeDecodeError:
            problem = "bytes that are not UTF-8"
        except (ValueError, RecursionError):  # not JSON, or nested too deeply to read
            problem = ""
        if problem is not None:
            keys = ", ".join(required[:-1]) + " and " + required[-1]
            hint = "" if self.read_only else "; fix or delete the line, or re-run with --fresh"
            raise LLMRecError(f"{where(self.path, n)}: expected a JSON sample record with {keys}"
                              + (f" ({problem})" if problem else "") + hint)
        self.records[(record["task"], record["sample_id"])] = record

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


def record_problem(record: Any, required: tuple[str, ...] = RECORD_KEYS, *,
                   failed_ok: bool = False) -> str | None:
    """None for a sample record of the shape bench writes; "" when it is no mapping of the `required` keys;
    else what is wrong with it. Values it holds are checked against their task's kind (rating, ranking, text).
    `failed_ok`: a failed sample's record (its `failed` error instead of an answer) is one too."""
    if failed_ok and isinstance(record, dict) and FAILED in record:
        required = KEYS
        if not isinstance(record[FAILED], str):
            return f"{FAILED}: expected the error as text, got {shown(record[FAILED])}"
    if not isinstance(record, dict) or not all(k in record for k in required):
        return ""
    if not all(isinstance(record.get(k, ""), str) for k in KEYS):
        return "task and sample_id should be text"
    kind = task_kind(record["task"])
    if "prediction" in record:
        problem = prediction_problem(record["prediction"], kind)
        if problem:
            return f"prediction: {problem}"
    if "reference" in record and kind and not VALUES[kind][1](record["reference"]):
        return f"reference: expected {VALUES[kind][0]}, got {shown(record['reference'])}"
    for key in ("truncated_history", "truncated_text"):
        count = record.get(key, 0)
        if not (_is_int(count) and count >= 0):
            return f"{key}: expected a count, got {shown(count)}"
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Per task kind: what a reference is, and whether a value is one; a prediction's value may also be null (text,
# rating: no usable answer).
VALUES = {
    "rating": ("a finite number", lambda v: _is_number(v) and math.isfinite(v)),
    "ranking": ("an item id", _is_int),
    "text": ("text", lambda v: isinstance(v, str)),
}
PREDICTED = {
    "rating": ("a number or null", lambda v: v is None or _is_number(v)),
    "ranking": ("a list of item ids", lambda v: isinstance(v, list) and all(_is_int(x) for x in v)),
    "text": ("text or null", lambda v: v is None or isinstance(v, str)),
}
# A Prediction's fields beside its value, each with its check.
COUNTS = {"parse_failed": lambda v: isinstance(v, bool), "well_formed": lambda v: isinstance(v, bool),
          **{k: lambda v: _is_int(v) and v >= 0 for k in ("hallucinated", "out_of_candidates", "duplicates")}}


def prediction_problem(prediction: Any, kind: str | None) -> str | None:
    if not isinstance(prediction, dict) or "value" not in prediction:
        return "expected a mapping with value, parse_failed, ..."
    unknown = [k for k in prediction if k != "value" and k not in COUNTS]
    if unknown:
        return f"unknown field {shown(unknown[0])}"
    bad = next((k for k, valid in COUNTS.items() if k in prediction and not valid(prediction[k])), None)
    if bad:
        return f"{bad}: got {shown(prediction[bad])}"
    if kind and not PREDICTED[kind][1](prediction["value"]):
        return f"value: expected {PREDICTED[kind][0]}, got {shown(prediction['value'])}"
    return None


def task_kind(task: str) -> str | None:
    """The metric family of a registered task (None for a task this llmrec does not know)."""
    from llmrec.tasks import TASKS

    return TASKS.get(task).kind if task in TASKS else None


def read_json(path: Path, expected: str | None = None) -> Any:
    """A JSON file llmrec wrote, read back: one LLMRecError line naming it when it is unreadable, and when a run
    record (manifest.json, an adapter's llmrec-adapter.json) does not have the shape llmrec writes."""
    data = files.read_json(path, expected)
    check, remedy = SHAPES.get(Path(path).name, (None, ""))
    problem = check(data) if check else None
    if problem:
        raise LLMRecError(f"{path}: {problem}; {remedy}")
    return data


def manifest_problem(manifest: Any) -> str | None:
    if not isinstance(manifest, dict):
        return "expected a JSON object (the run's manifest)"
    for key in ("model_info", "tokens", "settings", "identity", "tasks"):
        if manifest.get(key) is not None and not isinstance(manifest[key], dict):
            return f"\"{key}\" should be an object, found {shown(manifest[key])}"
    tokens = manifest.get("tokens") or {}
    bad = next((k for k in ("tokens_in", "tokens_out") if tokens.get(k) is not None
                and not (_is_int(tokens[k]) and tokens[k] >= 0)), None)
    if bad:
        return f"tokens.{bad} should be a count, found {shown(tokens[bad])}"
    wall = manifest.get("wall_time_s", 0.0)
    if not (_is_number(wall) and math.isfinite(wall) and wall >= 0):
        return f"wall_time_s should be a number of seconds, found {shown(wall)}"
    for task, entry in (manifest.get("tasks") or {}).items():
        requests = entry.get("requests") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or requests is not None and not (
                isinstance(requests, dict) and all(_is_int(n) and n >= 0 for n in requests.values())):
            return f"tasks.{shown(task)} should be an object whose requests are counts, found {shown(entry)}"
    info = manifest.get("model_info") or {}
    if "fitted" in info and not isinstance(info["fitted"], dict):
        return f"model_info.fitted should be an object, found {shown(info['fitted'])}"
    return None


def discard_unstarted(folder: Path, keep: Path) -> None:
    """Remove a run folder that holds no record yet (only its config.yaml, an empty log, an empty fit folder),
    and the folders above it that are left empty, up to `keep`: a run that fails to start leaves nothing."""
    from llmrec.evaluation.predictors import FITTED

    if not folder.is_dir() or holds_records(folder, FITTED):
        return
    for name in ("config.yaml", SAMPLES_FILE):
        (folder / name).unlink(missing_ok=True)
    if (folder / FITTED).is_dir():
        (folder / FITTED).rmdir()
    for empty in (folder, *folder.parents):
        if empty == keep or not empty.is_dir() or any(empty.iterdir()):
            break
        empty.rmdir()


def holds_records(folder: Path, fitted: str) -> bool:
    """Whether a run folder holds anything a run recorded: any file but its config.yaml, a sample, a fit."""
    log, fits = folder / SAMPLES_FILE, folder / fitted
    return (any(p.name not in ("config.yaml", SAMPLES_FILE, fitted) for p in folder.iterdir())
            or (log.is_file() and log.stat().st_size > 0) or (fits.is_dir() and any(fits.iterdir())))


def adapter_record_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return "expected a JSON object (the adapter's training record)"
    template = record.get("template")
    if template is not None and not (isinstance(template, dict) and isinstance(template.get("name", ""), str)):
        return f"\"template\" should be an object with a name, found {shown(template)}"
    datasets = record.get("datasets")
    if datasets is not None and not (isinstance(datasets, dict)
                                     and all(isinstance(d, dict) for d in datasets.values())):
        return f"\"datasets\" should map each task to an object, found {shown(datasets)}"
    return None


# The run records read back, by file name: what checks their shape, and what to do about a bad one.
SHAPES = {MANIFEST_FILE: (manifest_problem, "fix it, or re-run with --fresh"),
          "llmrec-adapter.json": (adapter_record_problem, "fix it, or train the adapter again")}


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
