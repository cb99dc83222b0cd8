"""The loop around a model: build samples, skip what is recorded, ask the model, parse, record, score."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llmrec import __version__
from llmrec.errors import LLMRecError
from llmrec.records import (FORMAT, SampleLog, git_commit, hardware, library_versions, read_json, run_id,
                            write_json)
from llmrec.tasks import SampleOptions, Task
from llmrec.types import GenerateRequest, Prediction, Sample, ScoreRequest

LOG_EVERY_S = 10.0  # progress lines when stderr is a file


@dataclass
class BenchConfig:
    model: str
    tasks: list[Task]
    dataset: str | None = None  # None: each task's default dataset
    limit: int | None = None
    template: str = "zero-shot"
    shots: int = 0
    candidates: int = 100
    seed: int = 2023
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
    output: Path = Path("results/runs")
    fresh: bool = False
    data_dir: Path | None = None
    chunk: int = field(default=32, repr=False)  # samples per model call; recorded after each chunk

    def settings(self) -> dict[str, Any]:
        """What identifies a run: the same settings resume the same folder."""
        s = asdict(self)
        for k in ("output", "fresh", "data_dir", "chunk", "batch_size", "concurrency"):
            s.pop(k)  # how, not what: they do not change results
        s["tasks"] = [t.name for t in self.tasks]
        return s


def is_classic(model: str) -> bool:
    from llmrec.baselines import CLASSIC

    return model in CLASSIC


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Bench:
    def __init__(self, config: BenchConfig):
        self.config = config
        self.run_id = run_id(config.model, config.settings())
        self.folder = config.output / self.run_id
        self.backend = None
        self.manifest_path = self.folder / "manifest.json"

    # -- one model, lazily: a resumed run with nothing left never loads it
    def llm(self):
        if self.backend is None:
            from llmrec.backends import load_backend

            c = self.config
            self.backend = load_backend(c.model, backend=c.backend, adapter=c.adapter, base_url=c.base_url,
                                        batch_size=c.batch_size, concurrency=c.concurrency,
                                        tensor_parallel_size=c.tensor_parallel_size, seed=c.seed)
        return self.backend

    def run(self) -> dict:
        c = self.config
        plan = [self._plan(task) for task in c.tasks]  # every input is checked before anything is written
        if c.fresh and self.folder.exists():
            for name in ("samples.jsonl", "metrics.json", "manifest.json"):
                (self.folder / name).unlink(missing_ok=True)
        previous = read_json(self.manifest_path) if self.manifest_path.exists() else {}
        for task, prepared, _, _, meta in plan:
            old = previous.get("tasks", {}).get(task.name)
            if old and old.get("fingerprint") != meta["fingerprint"]:
                raise LLMRecError(f"{self.manifest_path}: recorded {task.name} results come from other data "
                                  f"(fingerprint {old.get('fingerprint', '?')[:12]}); re-run with --fresh")
        self.folder.mkdir(parents=True, exist_ok=True)
        samples_log = SampleLog(self.folder / "samples.jsonl")
        if samples_log.records:
            log(f"resuming {self.folder}: {len(samples_log.records)} samples already recorded")
        started = time.perf_counter()
        for task, prepared, template, samples, _ in plan:
            todo = [s for s in samples if (task.name, s.sample_id) not in samples_log]
            if template is None:
                self._run_classic(task, prepared, todo, samples_log)
            else:
                self._run_llm(task, prepared, template, todo, samples_log)
        wall = time.perf_counter() - started + float(previous.get("wall_time_s", 0.0))
        task_meta = {task.name: meta for task, *_, meta in plan}
        metrics = self._metrics(task_meta, {task.name: samples for task, _, _, samples, _ in plan}, samples_log)
        write_json(self.folder / "metrics.json", metrics)
        write_json(self.manifest_path, self._manifest(task_meta, metrics, wall, previous))
        return metrics

    def _plan(self, task: Task):
        """Prepared data, template (None for classic models), samples and metadata of one task."""
        from llmrec.data import prepare_dataset

        c = self.config
        dataset = c.dataset or task.default_dataset
        kwargs = {"cache_dir": c.data_dir} if c.data_dir else {}
        prepared = prepare_dataset(dataset, seed=c.seed, negatives=c.candidates - 1, **kwargs)
        options = SampleOptions(split="test", shots=c.shots, limit=c.limit, candidate_order=c.candidate_order,
                                seed=c.seed)
        samples = task.build(prepared, options)
        if not samples:
            raise LLMRecError(f"dataset {dataset} has no {task.name} samples in its test split")
        meta = {"dataset": dataset, "fingerprint": prepared.fingerprint, "n_samples": len(samples),
                "candidates": c.candidates if self._ranking_over(task) == "candidates" else None,
                "ranking_over": self._ranking_over(task), "scoring": self._scoring(task),
                "template": None, "template_hash": None, "prepared_stats": prepared.stats}
        template = None
        if is_classic(c.model):
            from llmrec.baselines import load_classic

            load_classic(c.model, task.name, c.seed)  # fails early for a task the model does not do
        else:
            from llmrec.prompts import load_template

            template = load_template(task.name, c.template)
            meta.update(template=template.name, template_hash=template.sha256)
        return task, prepared, template, samples, meta

    def _ranking_over(self, task: Task) -> str | None:
        if task.kind != "ranking":
            return None
        if task.name == "sequential" and self._scoring(task) != "likelihood":
            return "catalog"
        return "candidates"

    def _scoring(self, task: Task) -> str:
        if is_classic(self.config.model):
            return "classic"
        return self.config.scoring if task.kind == "ranking" else "generate"

    # -- classic recommenders: no prompt, no parsing
    def _run_classic(self, task, prepared, todo, samples_log) -> None:
        from llmrec.baselines import load_classic

        model = load_classic(self.config.model, task.name, self.config.seed)
        if not todo:
            return
        model.fit(prepared)
        with progress(task.name, len(todo)) as advance:
            for chunk in chunks(todo, 256):
                samples_log.append(record(s, None, None, p, 0) for s, p in zip(chunk, model.predict(chunk)))
                advance(len(chunk))

    # -- LLMs: render, (truncate), ask, parse
    def _run_llm(self, task, prepared, template, todo, samples_log) -> None:
        if not todo:
            return
        from llmrec import parsing

        backend = self.llm()
        matcher = parsing.ItemMatcher(prepared.items) if task.kind == "ranking" else None
        c = self.config
        with progress(task.name, len(todo)) as advance:
            for chunk in chunks(todo, c.chunk):
                rendered = [self._render(template, s, backend) for s in chunk]
                prompts = [p for p, _ in rendered]
                if task.kind == "ranking" and c.scoring == "likelihood":
                    requests = [ScoreRequest(p, tuple(v["title"] for v in s.variables["candidates"]), template.chat)
                                for p, s in zip(prompts, chunk)]
                    answers = backend.loglikelihood(requests)
                    raws = [[round(x.logprob, 6) for x in a] for a in answers]
                    predictions = [rank_by_likelihood(s, a) for s, a in zip(chunk, answers)]
                else:
                    requests = [GenerateRequest(p, chat=template.chat,
                                                max_new_tokens=c.max_new_tokens or template.max_new_tokens,
                                                stop=template.stop, temperature=c.temperature, seed=c.seed)
                                for p in prompts]
                    raws = [a[0] for a in backend.generate(requests)]
                    predictions = [parse(task, s, raw, matcher) for s, raw in zip(chunk, raws)]
                samples_log.append(record(s, p, raw, pred, cut)
                                   for s, (p, cut), raw, pred in zip(chunk, rendered, raws, predictions))
                advance(len(chunk))

    def _render(self, template, sample: Sample, backend) -> tuple[str, int]:
        """The prompt and how many of the oldest history items were dropped to fit the context."""
        variables = dict(sample.variables)
        prompt = template.render(variables)
        limit = backend.context_length
        if not limit:
            return prompt, 0
        budget = limit - (self.config.max_new_tokens or template.max_new_tokens)
        dropped = 0
        while (n := backend.prompt_tokens(prompt, template.chat)) is not None and n > budget:
            if self.config.truncation == "error":
                raise LLMRecError(f"{sample.task} sample {sample.sample_id}: prompt takes {n} tokens, more than "
                                  f"the {budget} the model's context leaves (use --truncation history)")
            history = variables.get("history") or variables.get("summaries") or variables.get("examples")
            if not history:
                raise LLMRecError(f"{sample.task} sample {sample.sample_id}: prompt takes {n} tokens even with "
                                  f"no history; the model's context leaves {budget}")
            key = next(k for k in ("history", "summaries", "examples") if variables.get(k))
            variables[key] = variables[key][1:]  # oldest first: drop the oldest
            dropped += 1
            prompt = template.render(variables)
        return prompt, dropped

    # -- scores, from the records (so a resumed run scores exactly like an uninterrupted one)
    def _metrics(self, task_meta, task_samples, samples_log) -> dict:
        from llmrec.metrics import score

        from llmrec.tasks import get_task

        tasks = {}
        for name, meta in task_meta.items():
            recs = [samples_log.records[(name, s.sample_id)] for s in task_samples[name]]
            preds = [Prediction.from_json(r["prediction"]) for r in recs]
            refs = [r["reference"] for r in recs]
            counts = {"samples": len(recs),
                      "parse_failed": sum(p.parse_failed for p in preds),
                      "hallucinated": sum(p.hallucinated for p in preds),
                      "out_of_candidates": sum(p.out_of_candidates for p in preds),
                      "duplicates": sum(p.duplicates for p in preds),
                      "truncated": sum(1 for r in recs if r.get("truncated_history"))}
            tasks[name] = {**{k: v for k, v in meta.items() if k != "prepared_stats"},
                           "metrics": score(get_task(name).kind, preds, refs, seed=self.config.seed),
                           "counts": counts}
        return {"format": FORMAT, "run_id": self.run_id, "model": self.config.model,
                "adapter": self.config.adapter, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "tasks": tasks}

    def _manifest(self, task_meta, metrics, wall, previous) -> dict:
        model_info = self.backend.info() if self.backend is not None else previous.get("model_info")
        if is_classic(self.config.model):
            from llmrec.baselines import CLASSIC

            model_info = {"classic": self.config.model, "about": CLASSIC[self.config.model].about}
        tokens = {k: getattr(self.backend, k, None) for k in ("tokens_in", "tokens_out")}
        return {
            "format": FORMAT, "run_id": self.run_id, "llmrec_version": __version__, "git_commit": git_commit(),
            "command": sys.argv, "settings": self.config.settings(), "model_info": model_info,
            "tasks": {n: {**m, "counts": metrics["tasks"][n]["counts"]} for n, m in task_meta.items()},
            "library_versions": library_versions(), "hardware": hardware(), "wall_time_s": round(wall, 3),
            "tokens": tokens if self.backend is not None else previous.get("tokens"),
        }


def parse(task: Task, sample: Sample, raw: str, matcher) -> Prediction:
    from llmrec import parsing

    if task.kind == "rating":
        return parsing.parse_rating_prediction(raw)
    if task.kind == "ranking":
        return parsing.parse_ranking(raw, matcher, sample.candidates if task.name == "direct" else None)
    return parsing.parse_text(raw)


def rank_by_likelihood(sample: Sample, scores) -> Prediction:
    """Candidates by mean token log-probability (length-normalised), best first; ties by position."""
    means = [s.logprob / max(s.tokens, 1) for s in scores]
    order = sorted(range(len(means)), key=lambda i: (-means[i], i))
    return Prediction([sample.candidates[i] for i in order])


def record(sample: Sample, prompt: str | None, raw: Any, prediction: Prediction, truncated: int) -> dict:
    from llmrec.metrics import per_sample_scores
    from llmrec.tasks import get_task

    return {"task": sample.task, "sample_id": sample.sample_id, "user": sample.user, "item": sample.item,
            "prompt": prompt, "raw": raw, "prediction": prediction.to_json(), "reference": sample.reference,
            "truncated_history": truncated,
            "scores": per_sample_scores(get_task(sample.task).kind, prediction, sample.reference)}


def chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


class progress:
    """A progress bar on stderr (results go to stdout)."""

    def __init__(self, label: str, total: int):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                            transient=False)
        self.task = self.bar.add_task(label, total=total)
        self.logged = float("-inf")

    def __enter__(self):
        self.bar.start()
        return self.advance

    def advance(self, n: int) -> None:
        self.bar.advance(self.task, n)
        # A log file gets a plain line now and then (rich draws the bar there only at the end); at most
        # every LOG_EVERY_S, so fast classic models do not write a line per batch.
        now = time.monotonic()
        if not self.bar.console.is_terminal and now - self.logged >= LOG_EVERY_S:
            self.logged = now
            task = self.bar.tasks[0]
            self.bar.console.print(f"{task.description}: {task.completed:.0f}/{task.total:.0f}", highlight=False)

    def __exit__(self, *exc):
        self.bar.stop()
