"""What a judge reads from recorded runs: each sample's output, and the inputs the judged model saw.

The records hold the prompt and the answer but not the sample's variables (history, item, rating,
review), so they are rebuilt from the run's prepared data exactly as bench built them: same dataset,
seed, split, --limit and data fingerprint (a changed dataset is refused, not judged against other inputs).
Pairwise judging pairs two runs only when they were scored under one protocol on one sample set, with
the run-identity checks `llmrec compare` uses.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmrec.data.protocols import DEFAULT_KCORE, DEFAULT_SPLITS
from llmrec.errors import LLMRecError
from llmrec.files import read_json
from llmrec.protocol import PROTOCOL_KEYS, differences_or_unknown
from llmrec.records import MANIFEST_FILE


@dataclass
class JudgedSample:
    sample_id: str
    output: str  # the parsed answer ("" when none could be read: judged as the empty text it scores as)
    reference: Any
    variables: dict  # what the judged model's template saw


@dataclass
class JudgedTask:
    name: str
    entry: dict  # the task's entry in the run's metrics.json
    samples: dict[str, JudgedSample]  # by sample id, in the run's order


@dataclass
class JudgedRun:
    run: dict  # as llmrec.reporting.report.load_run returns it
    folder: Path

    @property
    def run_id(self) -> str:
        return self.run["run_id"]


def load_judged_run(path: Path) -> JudgedRun:
    from llmrec.reporting.report import load_run

    run = load_run(Path(path))
    folder = Path(run["path"]).parent
    if not (folder / MANIFEST_FILE).is_file():
        raise LLMRecError(f"{path}: expected a run folder written by `llmrec bench` (with {MANIFEST_FILE})")
    return JudgedRun(run, folder)


def output_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def judged_task(judged: JudgedRun, task: str, data_dir: Path | None = None) -> JudgedTask:
    """The task's recorded outputs with each sample's rebuilt variables."""
    from llmrec.reporting.compare import read_samples

    entry = judged.run["tasks"][task]
    records = read_samples(judged.run, task)  # complete, and the samples metrics.json was scored on
    variables = _rebuilt_variables(judged, task, entry, data_dir)
    missing = [i for i in records if i not in variables]
    if missing:
        raise LLMRecError(f"{judged.folder}: {task} sample {missing[0]} is not among the samples its data builds; "
                          "the run was not made from this data")
    samples = {}
    for sample_id, r in records.items():
        value = (r.get("prediction") or {}).get("value")
        samples[sample_id] = JudgedSample(sample_id, value if isinstance(value, str) else "", r["reference"],
                                          variables[sample_id])
    return JudgedTask(task, entry, samples)


def _rebuilt_variables(judged: JudgedRun, task: str, entry: dict, data_dir: Path | None) -> dict[str, dict]:
    from llmrec.data import prepare_for_run
    from llmrec.tasks import SampleOptions, get_task

    settings = read_json(judged.folder / MANIFEST_FILE).get("settings") or {}
    prepared = prepare_for_run(entry["dataset"], seed=entry["seed"], candidates=settings.get("candidates", 100),
                               kcore=settings.get("kcore", DEFAULT_KCORE),
                               splits=settings.get("splits", DEFAULT_SPLITS), cache_dir=data_dir)
    if prepared.fingerprint != entry.get("fingerprint"):
        raise LLMRecError(f"{judged.folder}: {task} was run on data {str(entry.get('fingerprint'))[:12]}, "
                          f"{entry['dataset']} prepares as {prepared.fingerprint[:12]} now; the judge would not see "
                          "the inputs the model saw")
    options = SampleOptions(split=entry.get("split") or "test", shots=entry.get("shots") or 0, limit=entry.get("limit"),
                            candidate_order=entry.get("candidate_order") or "shuffled", seed=entry["seed"])
    return {s.sample_id: {**dict(s.variables), "user": s.user, "item": s.item}
            for s in get_task(task).build(prepared, options)}


def check_pairable(a: JudgedRun, b: JudgedRun, task: str) -> None:
    """Both runs hold `task` under one protocol and on one sample set (the sample ids' hash and count)."""
    for run, side in ((a, "A"), (b, "B")):
        if task not in run.run["tasks"]:
            raise LLMRecError(f"run {side} ({run.folder}) has no {task} task (it holds {', '.join(run.run['tasks'])})")
    if a.run_id == b.run_id:
        raise LLMRecError(f"runs A and B are the same run ({a.run_id}): pairwise judging needs two")
    mismatched = differences_or_unknown(a.run["tasks"][task], b.run["tasks"][task], PROTOCOL_KEYS)
    if mismatched:
        shown = "\n".join(f"  {task}: {key}: A {va}, B {vb}" for key, va, vb in mismatched)
        raise LLMRecError("not pairable: the runs were not scored under the same protocol on the same samples, so a "
                          f"preference between them would not be the models'. They differ in:\n{shown}")


def check_same_references(a: JudgedTask, b: JudgedTask) -> None:
    for sample_id, sample in a.samples.items():
        other = b.samples.get(sample_id)
        if other is None or other.reference != sample.reference:
            raise LLMRecError(f"{a.name} sample {sample_id}: the runs do not hold it with the same reference; "
                              "they were not scored on the same data")
