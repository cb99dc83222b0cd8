"""The loop around a predictor: build samples, skip what is recorded, ask for answers, record, score.

The runner is the same for every model: an LLM and a recommender differ only in their predictor
(llmrec/evaluation/predictors.py), and tasks differ only in their Task (llmrec/tasks/).

Answers are recorded as they arrive: a chunk at a time for a local model, one sample at a time for an API
(several in flight at once), so a killed run never asks again for an answer it received. A sample whose
requests kept failing is recorded as failed, never as an answer: the run goes on, its metrics cover the
answered samples, and re-running the command asks again for the failed ones only.
"""

from __future__ import annotations

import shutil
import sys
import time
from contextlib import closing
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from llmrec import __version__
from llmrec.console import log, progress
from llmrec.data.protocols import DEFAULT_KCORE, DEFAULT_SPLITS
from llmrec.backends.openai_http import redact, redact_all
from llmrec.errors import LLMRecError, SampleFailed
from llmrec.home import runs_dir
from llmrec.evaluation.predictors import (EXECUTION_OPTIONS, FITTED, LLM_OPTIONS, RECOMMENDER_OPTIONS, Answer,
                                          adapter_template, make_predictor, predictor_class, template_shots)
from llmrec.protocol import sample_ids_sha256
from llmrec.records import (FORMAT, MANIFEST_FILE, METRICS_FILE, RECORD_KEYS, SAMPLES_FILE, SampleLog, git_commit,
                            hardware, library_versions, read_json, run_id, write_json, write_text)
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
    kcore: int = DEFAULT_KCORE
    splits: str = DEFAULT_SPLITS  # the split protocol (llmrec.data.protocols); in the settings unless the default
    model_args: dict | None = None  # a recommender's options (its hyperparameters), e.g. {"k": 50}
    output: Path = field(default_factory=runs_dir)
    fresh: bool = False
    data_dir: Path | None = None
    chunk: int = field(default=32, repr=False)  # samples per local model call; recorded after each chunk
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

            recorded = {k: redact(v) if isinstance(v, str) else v for k, v in c.resolved.items()}
            write_text(self.folder / "config.yaml", yaml.safe_dump(recorded, sort_keys=False))
        samples_log = SampleLog(self.folder / SAMPLES_FILE, required=RECORD_KEYS)  # every one is scored
        if samples_log.records:
            failed = sum(1 for r in samples_log.records.values() if is_failed(r))
            log(f"resuming {self.folder}: {len(samples_log.records) - failed} samples already recorded"
                + (f", {failed} failed ones to ask again" if failed else ""))
        self.started = time.perf_counter()
        # Per task, the requests retried, timed out and failed over every invocation of this run.
        self.requests = {p.task.name: dict(((self.previous.get("tasks") or {}).get(p.task.name) or {})
                                           .get("requests") or {}) for p in plans}
        for plan in plans:
            todo = [s for s in plan.samples if not answered(samples_log.records.get((plan.task.name, s.sample_id)))]
            if todo:
                self._answer(plan, todo, samples_log, plans)
        metrics = self._metrics(plans, samples_log)
        write_json(self.folder / METRICS_FILE, metrics)
        write_json(manifest_path, self._manifest(plans, metrics))
        return metrics

    def _plan(self, task: Task) -> TaskPlan:
        """Prepared data, the predictor's setup, samples and protocol of one task."""
        from llmrec.data import prepare_for_run
        from llmrec.metrics import METRICS_VERSION

        c = self.config
        dataset = c.dataset or task.default_dataset
        setup = self.predictor.setup(task)  # refused before any data is prepared
        prepared = prepare_for_run(dataset, seed=c.seed, candidates=c.candidates, kcore=c.kcore, splits=c.splits,
                                   cache_dir=c.data_dir)
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

    def _answer(self, plan: TaskPlan, todo: list[Sample], samples_log: SampleLog, plans: list[TaskPlan]) -> None:
        answer = self.predictor.start(plan.task, plan.prepared, plan.setup, plan.options, todo, self.folder,
                                      self.previous)
        name, earlier, before = plan.task.name, dict(self.requests[plan.task.name]), self.predictor.request_counts()
        failures: list[str] = []

        def checkpoint() -> None:  # this invocation's requests added to the earlier ones, and the manifest
            now = self.predictor.request_counts()
            if now or failures:  # a local model sends no requests
                mine = {**{k: now[k] - before[k] for k in now}, "failures": len(failures)}
                self.requests[name] = {k: earlier.get(k, 0) + mine.get(k, 0) for k in {*earlier, *mine}}
            write_json(self.folder / MANIFEST_FILE, self._manifest(plans, None))

        checkpointed, in_a_row = float("-inf"), 0  # the first answers are checkpointed at once
        try:
            answers = answered_as_they_come(answer, todo, self.predictor.chunk, self.predictor.parallel,
                                            self.predictor.stop)
            with progress(name, len(todo)) as advance, closing(answers):  # closed: the calls in flight stop
                for done in answers:
                    samples_log.append(record(plan.task, s, a) if isinstance(a, Answer) else failed_record(s, a)
                                       for s, a in done)
                    advance(len(done))
                    for _, a in done:
                        in_a_row = in_a_row + 1 if isinstance(a, SampleFailed) else 0
                        failures += [str(a)] if isinstance(a, SampleFailed) else []
                    if in_a_row >= FAILED_IN_A_ROW:
                        raise LLMRecError(f"{name}: the last {in_a_row} samples all failed (last: {failures[-1]}); "
                                          "the server is not answering: they are recorded as failed, run the "
                                          "same command again later to ask for them")
                    if time.monotonic() - checkpointed >= CHECKPOINT_S:  # a kill loses seconds of counts, not all
                        checkpoint()
                        checkpointed = time.monotonic()
        finally:  # also when the run stops: what it counted is kept
            checkpoint()
        if failures:
            log(f"{name}: {len(failures)} of {len(todo)} samples failed (last: {failures[-1]}); they are recorded "
                "as failed, not scored: run the same command again to ask for them only")

    # -- scores, from the records (so a resumed run scores exactly like an uninterrupted one)
    def _metrics(self, plans: list[TaskPlan], samples_log: SampleLog) -> dict:
        from llmrec.metrics import score

        tasks = {}
        for plan in plans:
            recs = [samples_log.records[(plan.task.name, s.sample_id)] for s in plan.samples]
            failed = sum(1 for r in recs if is_failed(r))
            recs = [r for r in recs if not is_failed(r)]  # scored: the answered samples only
            preds = [Prediction.from_json(r["prediction"]) for r in recs]
            refs = [r["reference"] for r in recs]
            counts = {"samples": len(recs),
                      "parse_failed": sum(p.parse_failed for p in preds),
                      "hallucinated": sum(p.hallucinated for p in preds),
                      "out_of_candidates": sum(p.out_of_candidates for p in preds),
                      "duplicates": sum(p.duplicates for p in preds),
                      "truncated": sum(1 for r in recs if r.get("truncated_history"))}
            cut = sum(1 for r in recs if r.get("truncated_text"))
            counts.update({k: v for k, v in (("truncated_text", cut), ("failed", failed)) if v})
            tasks[plan.task.name] = {**{k: v for k, v in plan.meta.items() if k != "prepared_stats"},
                                     "metrics": score(plan.task.kind, preds, refs, seed=self.config.interval_seed),
                                     "counts": counts}
        return {"format": FORMAT, "run_id": self.run_id, "model": self.config.model,
                "adapter": self.config.adapter, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "tasks": tasks}

    def _manifest(self, plans: list[TaskPlan], metrics: dict | None) -> dict:
        """The run's manifest; without `metrics` (while answering: a checkpoint a kill leaves behind) the
        tasks have no counts yet. Wall time, tokens and request counts add up over resumed invocations."""
        if not hasattr(self, "_environment"):  # the same for every checkpoint of an invocation
            self._environment = {"git_commit": git_commit(), "library_versions": library_versions(),
                                 "hardware": hardware()}
        wall = time.perf_counter() - self.started + float(self.previous.get("wall_time_s", 0.0))
        tasks = {}
        for p in plans:
            tasks[p.task.name] = {**p.meta, **({"requests": self.requests[p.task.name]}
                                               if self.requests[p.task.name] else {})}
            if metrics is not None:
                tasks[p.task.name]["counts"] = metrics["tasks"][p.task.name]["counts"]
        return {
            "format": FORMAT, "run_id": self.run_id, "llmrec_version": __version__,
            "git_commit": self._environment["git_commit"], "command": redact_all(sys.argv),
            "settings": self.predictor.settings(), "identity": self.identity,
            "model_info": self.predictor.info(self.previous), "tasks": tasks,
            "library_versions": self._environment["library_versions"], "hardware": self._environment["hardware"],
            "wall_time_s": round(wall, 3), "tokens": self.predictor.tokens(self.previous),
        }


CHECKPOINT_S = 2.0  # while answering, the manifest (wall time, tokens, request counts) is rewritten this often
FAILED_IN_A_ROW = 20  # samples failing one after another: the server is down, not one sample's problem


def record(task: Task, sample: Sample, answer: Answer) -> dict:
    from llmrec.metrics import per_sample_scores

    return {"task": sample.task, "sample_id": sample.sample_id, "user": sample.user, "item": sample.item,
            "prompt": answer.prompt, "raw": answer.raw, "prediction": answer.prediction.to_json(),
            "reference": sample.reference, "truncated_history": answer.truncated,
            **({"truncated_text": answer.cut_words} if answer.cut_words else {}),  # --truncation text only
            "scores": per_sample_scores(task.kind, answer.prediction, sample.reference)}


def failed_record(sample: Sample, failure: SampleFailed) -> dict:
    return {"task": sample.task, "sample_id": sample.sample_id, "user": sample.user, "item": sample.item,
            "failed": str(failure)}


def is_failed(rec: dict) -> bool:
    return "failed" in rec


def answered(rec: dict | None) -> bool:
    """Recorded with an answer (a failed sample is asked again)."""
    return rec is not None and not is_failed(rec)


def answered_as_they_come(answer, todo: list[Sample], chunk: int, parallel: int | None, stop):
    """Lists of (sample, Answer or SampleFailed), each as soon as it is answered: one chunk at a time
    (`parallel` None: a local model, which batches), or one sample per call with `parallel` of them in flight
    (an API). A fatal error stops asking for more, once the answers already in are yielded; an interrupt
    `stop`s the calls in flight."""
    def one(samples: list[Sample]) -> list:
        try:
            return answer(samples)
        except SampleFailed as failure:
            return [failure] * len(samples)

    if parallel is None:
        for part in chunks(todo, chunk):
            yield list(zip(part, one(part)))
        return
    waiting = iter(todo)
    with ThreadPoolExecutor(parallel, thread_name_prefix="llmrec-sample") as pool:
        running = {pool.submit(one, [s]): s for s in islice(waiting, parallel)}
        try:
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                errors = [f.exception() for f in finished if f.exception() is not None]
                yield [(running[f], f.result()[0]) for f in finished if f.exception() is None]
                if errors:
                    raise errors[0]  # the backend stopped the calls still running, with the same error
                for f in finished:
                    del running[f]
                    running.update((pool.submit(one, [s]), s) for s in islice(waiting, 1))
        except BaseException:  # Ctrl-C, or the caller gave up: do not wait for answers nobody will record
            stop()
            raise


def chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]
