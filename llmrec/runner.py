"""The loop around a model: build samples, skip what is recorded, ask the model, parse, record, score."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llmrec import __version__
from llmrec.console import log, progress
from llmrec.errors import LLMRecError
from llmrec.protocol import sample_ids_sha256
from llmrec.records import (FORMAT, SampleLog, git_commit, hardware, library_versions, read_json, run_id,
                            write_json, write_text)
from llmrec.tasks import SampleOptions, Task
from llmrec.types import GenerateRequest, Prediction, Sample, ScoreRequest

# Options that only an LLM takes; a classic model given one of them refuses it.
LLM_OPTIONS = ("template", "shots", "scoring", "truncation", "max_new_tokens", "temperature", "backend", "adapter",
               "base_url", "batch_size", "concurrency", "tensor_parallel_size", "dtype", "timeout", "max_retries")
# How a run is executed, not what it computes: left out of its identity.
EXECUTION_OPTIONS = ("output", "fresh", "data_dir", "chunk", "batch_size", "concurrency", "timeout", "max_retries",
                     "resolved")


@dataclass
class BenchConfig:
    model: str
    tasks: list[Task]
    dataset: str | None = None  # None: each task's default dataset
    limit: int | None = None
    template: str | None = None  # None: the adapter's training template, else zero-shot
    shots: int | None = None  # None: the template's declared default
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
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16 (local LLMs)
    timeout: float = 60.0  # seconds per API request (openai backend)
    max_retries: int = 6  # retries of a failed API request (openai backend)
    kcore: int = 5  # raw Amazon dumps: users and items with fewer interactions are filtered out
    output: Path = Path("results/runs")
    fresh: bool = False
    data_dir: Path | None = None
    chunk: int = field(default=32, repr=False)  # samples per model call; recorded after each chunk
    resolved: dict | None = field(default=None, repr=False)  # the options as given (saved as the run's config.yaml)

    @property
    def classic(self) -> bool:
        return is_classic(self.model)

    def settings(self) -> dict[str, Any]:
        """The options that shape results (a classic model takes none of the LLM's)."""
        s = asdict(self)
        for k in EXECUTION_OPTIONS + (LLM_OPTIONS if self.classic else ()):
            s.pop(k, None)
        s["tasks"] = [t.name for t in self.tasks]
        return s


def is_classic(model: str) -> bool:
    from llmrec.baselines import CLASSIC

    return model in CLASSIC


class Bench:
    def __init__(self, config: BenchConfig):
        self.config = config
        self.backend = None
        self.run_id: str | None = None  # known once the run's content is: see run()
        self.folder: Path | None = None
        self.fitted: dict[str, dict] = {}  # per task, what fitting a classic model chose

    # -- one model, lazily: a resumed run with nothing left never loads it
    def llm(self):
        if self.backend is None:
            from llmrec.backends import load_backend

            c = self.config
            self.backend = load_backend(c.model, backend=c.backend, adapter=c.adapter, base_url=c.base_url,
                                        batch_size=c.batch_size, concurrency=c.concurrency,
                                        tensor_parallel_size=c.tensor_parallel_size, seed=c.seed, device=c.device,
                                        dtype=c.dtype, timeout=c.timeout, max_retries=c.max_retries)
            self._check_loaded_weights()
        return self.backend

    def run(self) -> dict:
        c = self.config
        plan = [self._plan(task) for task in c.tasks]  # every input is checked before anything is written
        self.identity = self._identity(plan)
        self.run_id = run_id(c.model, self.identity)
        self.folder = c.output / self.run_id
        manifest_path = self.folder / "manifest.json"
        if c.fresh and self.folder.exists():
            for name in ("samples.jsonl", "metrics.json", "manifest.json"):
                (self.folder / name).unlink(missing_ok=True)
        self.previous = read_json(manifest_path) if manifest_path.exists() else {}
        self.folder.mkdir(parents=True, exist_ok=True)
        if c.resolved is not None:  # re-runnable as is: `llmrec bench --config <folder>/config.yaml`
            import yaml

            write_text(self.folder / "config.yaml", yaml.safe_dump(c.resolved, sort_keys=False))
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
        wall = time.perf_counter() - started + float(self.previous.get("wall_time_s", 0.0))
        task_meta = {task.name: meta for task, *_, meta in plan}
        metrics = self._metrics(plan, samples_log)
        write_json(self.folder / "metrics.json", metrics)
        write_json(manifest_path, self._manifest(task_meta, metrics, wall))
        return metrics

    def _plan(self, task: Task):
        """Prepared data, template (None for classic models), samples and protocol of one task."""
        from llmrec.data import prepare_dataset
        from llmrec.metrics import METRICS_VERSION

        c = self.config
        dataset = c.dataset or task.default_dataset
        kwargs = {"cache_dir": c.data_dir} if c.data_dir else {}
        template = None if c.classic else self._template(task)
        if c.classic:
            from llmrec.baselines import load_classic

            load_classic(c.model, task.name, c.seed)  # fails early for a task the model does not do
        shots = template_shots(template, c.shots) if template else 0  # refused before any data is prepared
        prepared = prepare_dataset(dataset, seed=c.seed, negatives=c.candidates - 1, kcore=c.kcore, **kwargs)
        options = SampleOptions(split="test", shots=shots, limit=c.limit, candidate_order=c.candidate_order,
                                seed=c.seed)
        samples = task.build(prepared, options)
        if not samples:
            raise LLMRecError(f"dataset {dataset} has no {task.name} samples in its test split")
        ranking_over = self._ranking_over(task)
        llm = template is not None
        meta = {"dataset": dataset, "fingerprint": prepared.fingerprint, "split": options.split,
                "n_samples": len(samples), "sample_ids_sha256": sample_ids_sha256(s.sample_id for s in samples),
                "limit": c.limit, "seed": c.seed, "metrics_version": METRICS_VERSION,
                "candidates": c.candidates if ranking_over == "candidates" else None,
                "candidate_order": c.candidate_order if task.kind == "ranking" else None,
                "ranking_over": ranking_over, "scoring": self._scoring(task),
                "template": template.name if llm else None, "template_hash": template.sha256 if llm else None,
                "shots": shots if llm else None,
                "max_new_tokens": (c.max_new_tokens or template.max_new_tokens) if llm else None,
                "temperature": c.temperature if llm else None, "truncation": c.truncation if llm else None,
                "prepared_stats": prepared.stats}
        return task, prepared, template, samples, meta

    def _template(self, task: Task):
        from llmrec.prompts import load_template

        return load_template(task.name, self.config.template or adapter_template(self.config.adapter) or "zero-shot")

    def _identity(self, plan) -> dict:
        """Everything that shapes a run's outputs, by content: a run folder is keyed by its hash, so a changed
        template file, data, weights, adapter or hyperparameter never resumes into recorded samples."""
        from llmrec.backends import weights_identity

        c = self.config
        if c.classic:
            from llmrec.baselines import load_classic

            model = {task.name: load_classic(c.model, task.name, c.seed).hyperparameters() for task, *_ in plan}
        else:
            model = weights_identity(c.model, backend=c.backend, adapter=c.adapter, base_url=c.base_url)
        tasks = {task.name: {k: meta[k] for k in ("dataset", "fingerprint", "template_hash", "shots")}
                 for task, *_, meta in plan}
        return {"settings": c.settings(), "tasks": tasks, "model": model}

    def _check_loaded_weights(self) -> None:
        """Hub weights are identified by name until loaded: refuse to resume records made with another revision."""
        recorded = (self.previous.get("model_info") or {}).get("weight_hash")
        loaded = self.backend.info().get("weight_hash")
        if recorded and loaded and recorded != loaded:
            raise LLMRecError(f"{self.folder / 'manifest.json'}: recorded samples come from weights {recorded[:12]}, "
                              f"the model loaded now has {loaded[:12]}; re-run with --fresh to start over, "
                              "or --output another folder to keep both")

    def _ranking_over(self, task: Task) -> str | None:
        if task.kind != "ranking":
            return None
        if task.name == "sequential" and self._scoring(task) != "likelihood":
            return "catalog"
        return "candidates"

    def _scoring(self, task: Task) -> str:
        if self.config.classic:
            return "classic"
        return self.config.scoring if task.kind == "ranking" else "generate"

    # -- classic recommenders: no prompt, no parsing
    def _run_classic(self, task, prepared, todo, samples_log) -> None:
        from llmrec.baselines import load_classic

        model = load_classic(self.config.model, task.name, self.config.seed)
        if not todo:
            return
        model.fit(prepared)
        self.fitted[task.name] = model.fit_report()
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
    def _metrics(self, plan, samples_log) -> dict:
        from llmrec.metrics import score

        tasks = {}
        for task, _, _, samples, meta in plan:
            recs = [samples_log.records[(task.name, s.sample_id)] for s in samples]
            preds = [Prediction.from_json(r["prediction"]) for r in recs]
            refs = [r["reference"] for r in recs]
            counts = {"samples": len(recs),
                      "parse_failed": sum(p.parse_failed for p in preds),
                      "hallucinated": sum(p.hallucinated for p in preds),
                      "out_of_candidates": sum(p.out_of_candidates for p in preds),
                      "duplicates": sum(p.duplicates for p in preds),
                      "truncated": sum(1 for r in recs if r.get("truncated_history"))}
            tasks[task.name] = {**{k: v for k, v in meta.items() if k != "prepared_stats"},
                                "metrics": score(task.kind, preds, refs, seed=self.config.seed), "counts": counts}
        return {"format": FORMAT, "run_id": self.run_id, "model": self.config.model,
                "adapter": self.config.adapter, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "tasks": tasks}

    def _manifest(self, task_meta, metrics, wall) -> dict:
        previous = self.previous
        if self.config.classic:
            from llmrec.baselines import CLASSIC

            model_info = {"classic": self.config.model, "about": CLASSIC[self.config.model].about,
                          "fitted": {**(previous.get("model_info") or {}).get("fitted", {}), **self.fitted}}
        else:
            model_info = self.backend.info() if self.backend is not None else previous.get("model_info")
        # counted per invocation: a resumed run adds its own to what earlier invocations recorded
        earlier = previous.get("tokens") or {}
        tokens = {k: None if (n := getattr(self.backend, k, None)) is None else n + (earlier.get(k) or 0)
                  for k in ("tokens_in", "tokens_out")}
        return {
            "format": FORMAT, "run_id": self.run_id, "llmrec_version": __version__, "git_commit": git_commit(),
            "command": sys.argv, "settings": self.config.settings(), "identity": self.identity,
            "model_info": model_info,
            "tasks": {n: {**m, "counts": metrics["tasks"][n]["counts"]} for n, m in task_meta.items()},
            "library_versions": library_versions(), "hardware": hardware(), "wall_time_s": round(wall, 3),
            "tokens": tokens if self.backend is not None else previous.get("tokens"),
        }


def template_shots(template, shots: int | None) -> int:
    """--shots, else the template's declared default; a template that shows examples never renders without."""
    if shots is None:
        return template.shots
    if template.shots and not shots:
        raise LLMRecError(f"--shots 0: template {template.name} ({template.path}) shows solved examples; "
                          "use --shots 1 or more, or --template zero-shot")
    if shots and not template.shots:
        raise LLMRecError(f"--shots {shots}: template {template.name} ({template.path}) shows no solved examples "
                          "(few-shot templates declare 'shots')")
    return shots


def adapter_template(adapter: str | None) -> str | None:
    """The template an llmrec adapter was trained with, from its llmrec-adapter.json."""
    if not adapter:
        return None
    path = Path(adapter).expanduser() / "llmrec-adapter.json"
    if not path.is_file():
        return None  # an adapter made elsewhere: nothing recorded
    template = read_json(path).get("template")
    return template.get("name") if isinstance(template, dict) else None


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
