"""Which runs a report shows (`--task`, `--model`, `--dataset`) and the short label each run's rows carry."""

from __future__ import annotations

import re
from typing import Iterable

from llmrec.errors import LLMRecError
from llmrec.registry import suggestion

# ---------------------------------------------------------------- labels


def is_local_path(model: str) -> bool:
    """The rule llmrec.backends.models uses to refuse a string as a hub id (owner/name): it names a folder."""
    return model.startswith((".", "/", "~")) or "\\" in model or model.count("/") > 1


def short_label(model: str) -> str:
    """A local folder is named by its last part ('/models/ckpt/smol-dpo' -> 'smol-dpo'); hub ids and
    aliases stay as they are, since 'owner/name' is what a reader looks up."""
    if not is_local_path(model):
        return model
    parts = [p for p in re.split(r"[/\\]", model) if p]
    return parts[-1] if parts else model


def run_suffix(run_id: str) -> str:
    """The hash part of a run id ('smol__4104212771' -> '4104212771'): what tells runs of one folder name apart."""
    return run_id.rsplit("__", 1)[-1]


def label_runs(runs: list[dict]) -> list[dict]:
    """The runs, each with "label": its short model label, followed by the run id's hash when runs of
    different models would otherwise share it (two folders both called 'checkpoint'), then the adapter."""
    models_by_label: dict[str, set[str]] = {}
    for run in runs:
        models_by_label.setdefault(short_label(run["model"]), set()).add(run["model"])
    labelled = []
    for run in runs:
        label = short_label(run["model"])
        if len(models_by_label[label]) > 1:
            label = f"{label} ({run_suffix(run['run_id'])})"
        if run.get("label_extra"):
            label = f"{label} · {run['label_extra']}"
        labelled.append(run | {"label": label})
    return labelled


# ---------------------------------------------------------------- filters


def select_runs(runs: list[dict], tasks: Iterable[str] = (), models: Iterable[str] = (),
                datasets: Iterable[str] = ()) -> list[dict]:
    """The runs, and within them the task entries, that every given filter matches; an empty filter keeps all.

    A model matches by its recorded name or its short label. Each value must match some run, else the
    option is named with what the runs hold, so a typo is one line, not an empty report."""
    tasks, models, datasets = list(tasks), list(models), list(datasets)
    _check_values("--task", tasks, {task for run in runs for task in run["tasks"]})
    _check_values("--model", models, {name for run in runs for name in (run["model"], short_label(run["model"]))})
    _check_values("--dataset", datasets, {e["dataset"] for run in runs for e in run["tasks"].values()})
    selected = []
    for run in runs:
        if models and not {run["model"], short_label(run["model"])} & set(models):
            continue
        kept = {task: entry for task, entry in run["tasks"].items()
                if (not tasks or task in tasks) and (not datasets or entry["dataset"] in datasets)}
        if kept:
            selected.append(run | {"tasks": kept})
    if not selected:
        given = " ".join(f"{option} {','.join(values)}" for option, values in
                         (("--task", tasks), ("--model", models), ("--dataset", datasets)) if values)
        raise LLMRecError(f"{given}: no run matches these filters together (each matches some run on its own)")
    return selected


def _check_values(option: str, values: list[str], known: set[str]) -> None:
    for value in values:
        if value in known:
            continue
        hint = suggestion(value, sorted(known))
        raise LLMRecError(f"{option} {value}: no run has it" + (f"; did you mean {hint}?" if hint else "")
                          + f" (the runs have: {', '.join(sorted(known))})")


def split_list(text: str | None) -> list[str]:
    """'direct, rating' -> ['direct', 'rating']; None or '' -> []."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]
