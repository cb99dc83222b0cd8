"""A blinded evaluation sheet: which samples, which outputs in which order, and the key that unblinds it.

Items are drawn (seeded) from the samples every run answered under the same protocol; each item shows the
inputs the models were given (read back from the prepared data, as the task built them) and every run's
output, in an order shuffled per item behind slot letters. The sheet never names a system; the key does.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llmrec.data.protocols import DEFAULT_KCORE, DEFAULT_SPLITS
from llmrec.errors import LLMRecError
from llmrec.protocol import PROTOCOL_KEYS, differences
from llmrec.registry import Registry

KEY_FORMAT = 1
SCALE = (1, 5)  # the score mode's Likert scale
SHEET_FILE, FORM_FILE, KEY_FILE = "sheet.csv", "form.html", "key.json"
# Columns every sheet has, before its context and after its output.
ID_COLUMNS = ("sheet", "item", "slot", "sample_id")
OUTPUT_COLUMN, ANNOTATOR_COLUMN, COMMENT_COLUMN = "output", "annotator", "comment"
RANK_COLUMN = "rank"


@dataclass(frozen=True)
class SheetTask:
    """How a task's items are shown: its context fields (column, label, prompt variable) and its criteria."""

    context: tuple[tuple[str, str, str], ...]
    criteria: tuple[str, ...]
    question: str  # what the annotator is asked about each output


SHEET_TASKS: Registry[SheetTask] = Registry("task for human evaluation")
SHEET_TASKS.add("explanation", SheetTask(
    context=(("item_title", "Item", "title"), ("category", "Category", "category"),
             ("rating", "The user's rating", "rating")),
    criteria=("informativeness", "persuasiveness", "relevance", "fluency"),
    question="Each output explains the user's rating of the item."), "explanation generation")
SHEET_TASKS.add("review", SheetTask(
    context=(("item_title", "Item", "title"), ("review", "Review", "review")),
    criteria=("faithfulness", "conciseness", "fluency"),
    question="Each output summarizes the review in a few words."), "review summarization")

MODES = ("score", "rank")  # score: 1-5 per output and criterion; rank: order an item's outputs, 1 = best
REFERENCE_COLUMN = ("reference", "The user's own words (reference)")


@dataclass
class Sheet:
    """Everything the three files are written from."""

    task: str
    mode: str
    criteria: tuple[str, ...]  # score mode; rank mode ranks once, on the whole
    seed: int
    runs: list[dict]  # {run_id, model, label, path}, in the order given
    items: list[dict]  # {item, sample_id, context: {column: value}, slots: [(letter, run index, output)]}
    context_columns: list[tuple[str, str]]  # (column, label)
    protocol: dict
    n_shared: int

    @property
    def sheet_id(self) -> str:
        content = json.dumps([self.task, self.mode, self.criteria, self.protocol,
                              [(i["sample_id"], [s[:2] for s in i["slots"]]) for i in self.items]])
        return hashlib.sha256(content.encode()).hexdigest()[:12]

    @property
    def answer_columns(self) -> list[str]:
        return list(self.criteria) if self.mode == "score" else [RANK_COLUMN]

    @property
    def columns(self) -> list[str]:
        return [*ID_COLUMNS, *(c for c, _ in self.context_columns), OUTPUT_COLUMN, *self.answer_columns,
                ANNOTATOR_COLUMN, COMMENT_COLUMN]

    def rows(self) -> list[dict]:
        """One row per item and slot, the answer columns left blank for the annotator."""
        rows = []
        for item in self.items:
            for letter, _, output in item["slots"]:
                row = {"sheet": self.sheet_id, "item": item["item"], "slot": letter,
                       "sample_id": item["sample_id"], **item["context"], OUTPUT_COLUMN: output}
                rows.append({c: row.get(c, "") for c in self.columns})
        return rows

    def key(self) -> dict:
        return {"format": KEY_FORMAT, "kind": "llmrec human-eval key", "sheet": self.sheet_id, "task": self.task,
                "mode": self.mode, "criteria": list(self.answer_columns), "scale": list(SCALE), "seed": self.seed,
                "n_items": len(self.items), "n_shared": self.n_shared, "protocol": self.protocol, "runs": self.runs,
                "items": [{"item": i["item"], "sample_id": i["sample_id"],
                           "slots": {letter: run for letter, run, _ in i["slots"]}} for i in self.items]}


# --- building ------------------------------------------------------------------------------------

def build_sheet(run_paths: list[Path], task: str, n: int, seed: int, mode: str = "score",
                criteria: tuple[str, ...] | None = None, show_reference: bool = True) -> Sheet:
    from llmrec.reporting.compare import read_samples
    from llmrec.reporting.report import load_run

    spec = SHEET_TASKS.get(task)
    if mode not in MODES:
        raise LLMRecError(f"--mode: expected one of {', '.join(MODES)}, got '{mode}'")
    if n < 1:
        raise LLMRecError(f"--n: expected at least 1 item, got {n}")
    runs = [load_run(p) for p in run_paths]
    _check_runs(runs, run_paths, task)
    records = [read_samples(run, task) for run in runs]
    shared = sorted(set.intersection(*(set(r) for r in records)))
    if not shared:
        raise LLMRecError(f"the runs share no {task} sample")
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(shared), size=min(n, len(shared)), replace=False))
    sample_ids = [shared[i] for i in chosen]
    rng.shuffle(sample_ids)  # the sheet's item order: seeded, not sorted by id
    contexts, columns = sample_contexts(runs[0], task, spec, sample_ids, records)
    if show_reference:
        columns = [*columns, REFERENCE_COLUMN]
        for sid in sample_ids:
            contexts[sid][REFERENCE_COLUMN[0]] = str(records[0][sid].get("reference") or "")
    letters = slot_letters(len(runs))
    items = []
    for number, sid in enumerate(sample_ids, start=1):
        order = rng.permutation(len(runs))
        slots = [(letters[pos], int(run), output_text(records[run][sid])) for pos, run in enumerate(order)]
        items.append({"item": number, "sample_id": sid, "context": contexts[sid], "slots": slots})
    entry = runs[0]["tasks"][task]
    return Sheet(task=task, mode=mode, criteria=tuple(criteria or spec.criteria), seed=seed,
                 runs=[{"run_id": r["run_id"], "model": r["model"], "label": name,
                        "path": str(Path(r["path"]).parent)} for r, name in zip(runs, system_labels(runs, task))],
                 items=items, context_columns=columns, protocol={k: entry.get(k) for k in PROTOCOL_KEYS},
                 n_shared=len(shared))


def _check_runs(runs: list[dict], paths: list[Path], task: str) -> None:
    """At least two runs, each once, each holding the task, all on the same samples scored the same way."""
    if len(runs) < 2:
        raise LLMRecError(f"expected at least two runs to compare, got {len(runs)}")
    seen: dict[str, Path] = {}
    for run, path in zip(runs, paths):
        if run["run_id"] in seen:
            raise LLMRecError(f"{path}: the same run as {seen[run['run_id']]} (run {run['run_id']})")
        seen[run["run_id"]] = path
        if task not in run["tasks"]:
            raise LLMRecError(f"{path}: holds no {task} task (it has: {', '.join(run['tasks'])})")
    first = runs[0]["tasks"][task]
    for run, path in zip(runs[1:], paths[1:]):
        diff = differences(first, run["tasks"][task], PROTOCOL_KEYS)
        if diff:
            shown = "; ".join(f"{k}: {a} vs {b}" for k, a, b in diff)
            raise LLMRecError(f"{path}: its {task} samples differ from {paths[0]}'s ({shown}); a sheet compares "
                              "runs on the same samples")


def system_labels(runs: list[dict], task: str) -> list[str]:
    """The report's short labels; runs that would still share one get their template, then their run id's hash."""
    from llmrec.reporting.select import label_runs, run_suffix

    labels = [r["label"] for r in label_runs(runs)]
    for tell_apart in (lambda r: r["tasks"][task].get("template"), lambda r: run_suffix(r["run_id"])):
        counts = {name: labels.count(name) for name in labels}
        labels = [f"{name} · {tell_apart(r)}" if counts[name] > 1 and tell_apart(r) else name
                  for name, r in zip(labels, runs)]
    return labels


def slot_letters(k: int) -> list[str]:
    if k > len(string.ascii_uppercase):
        raise LLMRecError(f"expected at most {len(string.ascii_uppercase)} runs on one sheet, got {k}")
    return list(string.ascii_uppercase[:k])


def output_text(record: dict) -> str:
    value = (record.get("prediction") or {}).get("value")
    return "" if value is None else str(value)


def sample_contexts(run: dict, task: str, spec: SheetTask, sample_ids: list[str],
                    records: list[dict[str, dict]]) -> tuple[dict[str, dict], list[tuple[str, str]]]:
    """What the models were given for each sample: the task's context fields from the prepared data, as
    the task built them; or, when that data cannot be rebuilt as recorded, the prompt an LLM run recorded."""
    variables = _rebuilt_variables(run, task, set(sample_ids))
    if variables is not None:
        columns = [(column, label) for column, label, _ in spec.context]
        contexts = {sid: {column: _shown(variables[sid].get(var)) for column, _, var in spec.context}
                    for sid in sample_ids}
        return contexts, columns
    prompts = {sid: next((str(r[sid]["prompt"]) for r in records if r[sid].get("prompt")), None)
               for sid in sample_ids}
    if any(p is None for p in prompts.values()):
        raise LLMRecError(f"{run['path']}: its {task} data cannot be prepared as recorded and no run recorded "
                          "the prompts, so the sheet would show no inputs (prepare the dataset again, or add an "
                          "LLM run of these samples)")
    return {sid: {"prompt": p} for sid, p in prompts.items()}, [("prompt", "Prompt")]


def _rebuilt_variables(run: dict, task: str, wanted: set[str]) -> dict[str, dict] | None:
    """sample_id -> prompt variables, from the run's dataset prepared again; None when it cannot be."""
    from llmrec.data import prepare_for_run
    from llmrec.tasks import TASKS
    from llmrec.tasks.base import SampleOptions

    entry = run["tasks"][task]
    config = _run_config(Path(run["path"]).parent)
    try:
        prepared = prepare_for_run(entry["dataset"], seed=int(entry["seed"]),
                                   candidates=int(config.get("candidates") or 100),
                                   kcore=int(config.get("kcore", DEFAULT_KCORE)),
                                   splits=str(config.get("splits") or DEFAULT_SPLITS))
    except (LLMRecError, OSError, KeyError, TypeError, ValueError):
        return None
    if prepared.fingerprint != entry.get("fingerprint"):
        return None
    samples = TASKS.get(task).build(prepared, SampleOptions(split=entry.get("split") or "test",
                                                            seed=int(entry["seed"])))
    found = {s.sample_id: dict(s.variables) for s in samples if s.sample_id in wanted}
    return found if len(found) == len(wanted) else None


def _run_config(folder: Path) -> dict:
    import yaml

    file = folder / "config.yaml"
    try:
        config = yaml.safe_load(file.read_text()) if file.is_file() else {}
    except (OSError, yaml.YAMLError):
        return {}
    return config if isinstance(config, dict) else {}


def _shown(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


# --- writing -------------------------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may run as a formula


def spreadsheet_safe(value: Any) -> Any:
    """A text cell a spreadsheet would read as a formula, quoted with a leading apostrophe: the outputs are
    model text, and an annotator opens the sheet in a spreadsheet. Only display columns can start so."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def sheet_csv(sheet: Sheet) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=sheet.columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in sheet.rows())
    return buffer.getvalue()


def export_sheet(run_paths: list[Path], task: str, n: int, seed: int, out: Path, mode: str = "score",
                 criteria: tuple[str, ...] | None = None, show_reference: bool = True) -> tuple[Sheet, dict[str, Path]]:
    """Write sheet.csv, form.html and key.json into `out`; returns the sheet and the files by name."""
    from llmrec.files import write_json, write_text
    from llmrec.humaneval.form import render_form

    sheet = build_sheet(run_paths, task, n, seed, mode, criteria, show_reference)
    out = Path(out)
    files = {name: out / name for name in (SHEET_FILE, FORM_FILE, KEY_FILE)}
    for name in files.values():
        if name.exists():
            raise LLMRecError(f"{name}: already exists; export into an empty folder (a new sheet would "
                              "not match annotations of the old one)")
    write_text(files[SHEET_FILE], sheet_csv(sheet))
    write_text(files[FORM_FILE], render_form(sheet))
    write_json(files[KEY_FILE], sheet.key())
    return sheet, files
