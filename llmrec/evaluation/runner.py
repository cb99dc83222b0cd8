"""The loop around a predictor: build samples, skip what is recorded, ask for answers, record, score.

The runner is the same for every model: an LLM and a recommender differ only in their predictor
(llmrec/evaluation/predictors.py), and tasks differ only in their Task (llmrec/tasks/).
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmrec import __version__
from llmrec.console import log, progress
from llmrec.errors import LLMRecError
from llmrec.home import runs_dir
from llmrec.evaluation.predictors import (EXECUTION_OPTIONS, FITTED, LLM_OPTIONS, RECOMMENDER_OPTIONS, Answer,
                                          adapter_template, make_predictor, predictor_class, template_shots)
from llmrec.protocol import sample_ids_sha256
from llmrec.records import (FORMAT, MANIFEST_FILE, METRICS_FILE, SAMPLES_FILE, SampleLog, git_commit, hardware,
                            library_versions, read_json, run_id, write_json, write_text)
from llmrec.tasks import SampleOptions, Task
from llmrec.types import Prediction, Sample

__all__ = ["Bench", "BenchConfig", "EXECUTION_OPTIONS", "LLM_OPTIONS", "RECOMMENDER_OPTIONS", "adapter_template",
           "predictor_class", "template_shots"]


@dataclass
class BenchConfig:
    model: str
    tasks: list[Task]
    dataset: str | None = None  # None: each task's default dataset
    limit: int | None = None
    template: str | None = None  # None: the adapter's training template, else zero-shot
    shots: int | None = None  # None: the template's declared default
    candidates: int = 100
    seed: int = 2023  # splits, negatives, --limit subsets, candidate order; and the two below unless set
    sampling_seed: int | None = None  # an LLM's decoding (matters with --temperature > 0)
    bootstrap_seed: int | None = None  # the resamples behind the metrics' 95% intervals
    scoring: str = "generate"  # generate | likelihood (ranking tasks)
    candidate_order: str = "shuffled"
    truncation: str = "history"  # history | error
    max_new_tokens: int | None = None  # None: the template's
    temperature: float = 0.0
    backend: str = "auto"
    adapter: str | None = None
    base_url: str | None = None
    batch_size: int | str = "auto"
    concurrency: int = 8
    tensor_parallel_size: int = 1
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16 (local LLMs)
    timeout: float = 60.0  # seconds per API request (openai backend)
    max_retries: int = 6  # retries of a failed API request (openai backend)
    kcore: int = 5  # raw Amazon dumps: users and items with fewer interactions are filtered out
    model_args: dict | None = None  # a recommender's options (its hyperparameters), e.g. {"k": 50}
    output: Path = field(default_factory=runs_dir)
    fresh: bool = False
    data_dir: Path | None = None
    chunk: int = field(default=32, repr=False)  # samples per model call; recorded after each chunk
    resolved: dict | None = field(default=None, repr=False)  # the options as given (saved as the run's config.yaml)

    @property
    def decoding_seed(self) -> int:
        return self.seed if self.sampling_seed is None else self.sampling_seed

    @property
    def interval_seed(self) -> int:
        return self.seed if self.bootstrap_seed is None else self.bootstrap_seed

    def settings(self) -> dict[str, Any]:
        """The options that shape results (each kind of model takes only its own)."""
        return make_predictor(self).settings()


@dataclass
class TaskPlan:
    task: Task
    prepared: Any
    setup: dict  # what the predictor chose for the task (template, shots)
    options: SampleOptions
    samples: list[Sample]
    meta: dict  # the task's entry in metrics.json, before scores and counts


class Bench:
    def __init__(self, config: BenchConfig):
        self.config = config
        self.predictor = make_predictor(config)
        self.run_id: str | None = None  # known once the run's content is: see run()
        self.folder: Path | None = None

    def run(self) -> dict:
        c = self.config
        plans = [self._plan(task) for task in c.tasks]  # every input is checked before anything is written
        self.identity = self._identity(plans)
        self.run_id = run_id(c.model, self.identity)
        self.folder = c.output / self.run_id
        manifest_path = self.folder / MANIFEST_FILE
        if c.fresh and self.folder.exists():
            for name in (SAMPLES_FILE, METRICS_FILE, MANIFEST_FILE):
                (self.folder / name).unlink(missing_ok=True)
            shutil.rmtree(self.folder / FITTED, ignore_errors=True)
        self.previous = read_json(manifest_path) if manifest_path.exists() else {}
        self.folder.mkdir(parents=True, exist_ok=True)
        if c.resolved is not None:  # re-runnable as is: `llmrec bench --config <folder>/config.yaml`
            import yaml

            write_text(self.folder / "config.yaml", yaml.safe_dump(c.resolved, sort_keys=False))
        samples_log = SampleLog(self.folder / SAMPLES_FILE)
        if samples_log.records:
            log(f"resuming {self.folder}: {len(samples_log.records)} samples already recorded")
        started = time.perf_counter()
        for plan in plans:
            todo = [s for s in plan.samples if (plan.task.name, s.sample_id) not in samples_log]
            if todo:
                self._answer(plan, todo, samples_log)
        wall = time.perf_counter() - started + float(self.previous.get("wall_time_s", 0.0))
        metrics = self._metrics(plans, samples_log)
        write_json(self.folder / METRICS_FILE, metrics)
        write_json(manifest_path, self._manifest(plans, metrics, wall))
        return metrics

    def _plan(self, task: Task) -> TaskPlan:
        """Prepared data, the predictor's setup, samples and protocol of one task."""
        from llmrec.data import prepare_for_run
        from llmrec.metrics import METRICS_VERSION

        c = self.config
        dataset = c.dataset or task.default_dataset
        setup = self.predictor.setup(task)  # refused before any data is prepared
        prepared = prepare_for_run(dataset, seed=c.seed, candidates=c.candidates, kcore=c.kcore, cache_dir=c.data_dir)
        options = SampleOptions(split="test", shots=setup["shots"], limit=c.limit, candidate_order=c.candidate_order,
                                seed=c.seed)
        samples = task.build(prepared, options)
        if not samples:
            absent = "; ".join(f"{n}: {what}" for n, what in prepared.stats.get("absent_files", {}).items())
            raise LLMRecError(f"dataset {dataset} has no {task.name} samples in its test split"
                              + (f" (missing from its folder: {absent})" if absent else ""))
        settings = self.predictor.task_settings(task, setup)
        meta = {"dataset": dataset, "fingerprint": prepared.fingerprint, "split": options.split,
                "n_samples": len(samples), "sample_ids_sha256": sample_ids_sha256(s.sample_id for s in samples),
                "limit": c.limit, "seed": c.seed, "bootstrap_seed": c.interval_seed, "metrics_version": METRICS_VERSION,
                **task.protocol(settings["scoring"], c.candidates, c.candidate_order), **settings,
                "prepared_stats": prepared.stats}
        return TaskPlan(task, prepared, setup, options, samples, meta)

    def _identity(self, plans: list[TaskPlan]) -> dict:
        """Everything that shapes a run's outputs, by content: a run folder is keyed by its hash, so a changed
        template file, data, weights, adapter or hyperparameter never resumes into recorded samples."""
        tasks = {p.task.name: {k: p.meta[k] for k in ("dataset", "fingerprint", "template_hash", "shots")}
                 for p in plans}
        return {"settings": self.predictor.settings(), "tasks": tasks,
                "model": self.predictor.identity([p.task for p in plans])}

    def _answer(self, plan: TaskPlan, todo: list[Sample], samples_log: SampleLog) -> None:
        answer = self.predictor.start(plan.task, plan.prepared, plan.setup, plan.options, todo, self.folder,
                                      self.previous)
        with progress(plan.task.name, len(todo)) as advance:
            for chunk in chunks(todo, self.predictor.chunk):
                samples_log.append(record(plan.task, s, a) for s, a in zip(chunk, answer(chunk)))
                advance(len(chunk))

    # -- scores, from the records (so a resumed run scores exactly like an uninterrupted one)
    def _metrics(self, plans: list[TaskPlan], samples_log: SampleLog) -> dict:
        from llmrec.metrics import score

        tasks = {}
        for plan in plans:
            recs = [samples_log.records[(plan.task.name, s.sample_id)] for s in plan.samples]
            preds = [Prediction.from_json(r["prediction"]) for r in recs]
            refs = [r["reference"] for r in recs]
            counts = {"samples": len(recs),
                      "parse_failed": sum(p.parse_failed for p in preds),
                      "hallucinated": sum(p.hallucinated for p in preds),
                      "out_of_candidates": sum(p.out_of_candidates for p in preds),
                      "duplicates": sum(p.duplicates for p in preds),
                      "truncated": sum(1 for r in recs if r.get("truncated_history"))}
            tasks[plan.task.name] = {**{k: v for k, v in plan.meta.items() if k != "prepared_stats"},
                                     "metrics": score(plan.task.kind, preds, refs, seed=self.config.interval_seed),
                                     "counts": counts}
        return {"format": FORMAT, "run_id": self.run_id, "model": self.config.model,
                "adapter": self.config.adapter, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "tasks": tasks}

    def _manifest(self, plans: list[TaskPlan], metrics: dict, wall: float) -> dict:
        return {
            "format": FORMAT, "run_id": self.run_id, "llmrec_version": __version__, "git_commit": git_commit(),
            "command": sys.argv, "settings": self.predictor.settings(), "identity": self.identity,
            "model_info": self.predictor.info(self.previous),
            "tasks": {p.task.name: {**p.meta, "counts": metrics["tasks"][p.task.name]["counts"]} for p in plans},
            "library_versions": library_versions(), "hardware": hardware(), "wall_time_s": round(wall, 3),
            "tokens": self.predictor.tokens(self.previous),
        }


def record(task: Task, sample: Sample, answer: Answer) -> dict:
    from llmrec.metrics import per_sample_scores

    return {"task": sample.task, "sample_id": sample.sample_id, "user": sample.user, "item": sample.item,
            "prompt": answer.prompt, "raw": answer.raw, "prediction": answer.prediction.to_json(),
            "reference": sample.reference, "truncated_history": answer.truncated,
            "scores": per_sample_scores(task.kind, answer.prediction, sample.reference)}


def chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]
