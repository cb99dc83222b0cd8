"""The one seam between the runner and a model: a predictor turns a task's samples into answers.

An `LLMPredictor` renders each sample with a prompt template, asks a backend what the task asks for
(generate or score) and lets the task parse the reply; a `RecommenderPredictor` fits a recommender on the
prepared data and lets the task ask it each sample's `Query`. Both hand the runner `Answer`s (prompt or
None, raw output, prediction) and say what shapes their results (settings, identity) and what they were
(model info for the manifest). The runner never asks which kind it holds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from llmrec.backends.openai_http import redact
from llmrec.data.protocols import DEFAULT_KCORE, DEFAULT_SPLITS
from llmrec.errors import LLMRecError
from llmrec.home import trained_dir
from llmrec.records import read_json
from llmrec.tasks import Asking, SampleOptions, Task
from llmrec.tasks.base import RECOMMENDED
from llmrec.types import Prediction, Sample

# Options that only an LLM takes, and those only a recommender takes: a model given the other kind's refuses.
LLM_OPTIONS = ("template", "shots", "scoring", "truncation", "max_new_tokens", "temperature", "backend", "adapter",
               "base_url", "batch_size", "concurrency", "tensor_parallel_size", "dtype", "timeout", "max_retries",
               "sampling_seed")
RECOMMENDER_OPTIONS = ("model_args",)
# How a run is executed, not what it computes: left out of its identity.
EXECUTION_OPTIONS = ("output", "fresh", "data_dir", "chunk", "batch_size", "concurrency", "timeout", "max_retries",
                     "resolved")
FITTED = "models"  # the run folder's subfolder where a recommender keeps its fit, one file per task


@dataclass
class Answer:
    prompt: str | None  # None: the model takes no prompt
    raw: Any  # the model's own output: text, candidate log-likelihoods, or None
    prediction: Prediction
    truncated: int = 0  # oldest history entries dropped to fit the prompt into the context
    cut_words: int = 0  # --truncation text: words cut from the end of the task's text (the review) to fit


Answering = Callable[[Sequence[Sample]], list[Answer]]


def predictor_class(model: str) -> type["LLMPredictor"] | type["RecommenderPredictor"]:
    """A registered recommender's name means that recommender; any other model name is an LLM."""
    from llmrec.recommenders import is_recommender

    return RecommenderPredictor if is_recommender(model) else LLMPredictor


def make_predictor(config) -> "LLMPredictor | RecommenderPredictor":
    return predictor_class(config.model)(config)


class LLMPredictor:
    def __init__(self, config):
        self.config = config
        self.backend = None
        self.chunk = config.chunk  # samples per backend call (the runner records after each)

    @staticmethod
    def can_do(model: str, task: Task) -> bool:
        return True

    @staticmethod
    def refuses(model: str) -> tuple[str, ...]:
        """The options this model does not take (given one, the command line refuses it)."""
        return RECOMMENDER_OPTIONS

    def settings(self) -> dict:
        return _settings(self.config, self.refuses(self.config.model))

    # -- per task: the template and the settings it records
    def setup(self, task: Task) -> dict:
        """The task's template and shots: every input checked before any data is prepared."""
        from llmrec.prompts import load_template

        c = self.config
        template = load_template(task.name, c.template or adapter_template(c.adapter) or "zero-shot")
        check_adapter_splits(c, task)
        return {"template": template, "shots": template_shots(template, c.shots)}

    def task_settings(self, task: Task, setup: dict) -> dict:
        c, template = self.config, setup["template"]
        return {"scoring": task.scoring(c.scoring), "template": template.name, "template_hash": template.sha256,
                "shots": setup["shots"], "max_new_tokens": c.max_new_tokens or template.max_new_tokens,
                "temperature": c.temperature, "sampling_seed": c.decoding_seed, "truncation": c.truncation}

    def identity(self, tasks: Sequence[Task]) -> dict:
        from llmrec.backends import weights_identity

        c = self.config
        return weights_identity(c.model, backend=c.backend, adapter=c.adapter, base_url=c.base_url)

    # -- answering
    def start(self, task: Task, prepared, setup: dict, options: SampleOptions, todo: Sequence[Sample],
              folder: Path, previous: dict) -> Answering:
        c, template = self.config, setup["template"]
        backend = self.load(folder, previous)
        context = task.parse_context(prepared)
        asking = Asking(scoring=task.scoring(c.scoring), chat=template.chat,
                        max_new_tokens=c.max_new_tokens or template.max_new_tokens, stop=template.stop,
                        temperature=c.temperature, seed=c.decoding_seed)

        def answer(samples: Sequence[Sample]) -> list[Answer]:
            rendered = [self.render(task, template, s) for s in samples]
            replies = task.ask(backend, samples, [p for p, _, _ in rendered], asking, context)
            return [Answer(p, raw, pred, dropped, cut) for (p, dropped, cut), (raw, pred) in zip(rendered, replies)]

        return answer

    def load(self, folder: Path, previous: dict):
        """The backend, loaded once and only when there is something to ask (a finished run never loads it)."""
        if self.backend is None:
            from llmrec.backends import load_backend

            c = self.config
            self.backend = load_backend(c.model, backend=c.backend, adapter=c.adapter, base_url=c.base_url,
                                        batch_size=c.batch_size, concurrency=c.concurrency,
                                        tensor_parallel_size=c.tensor_parallel_size, seed=c.decoding_seed,
                                        device=c.device,
                                        dtype=c.dtype, timeout=c.timeout, max_retries=c.max_retries)
            self._check_loaded_weights(folder, previous)
            preflight = getattr(self.backend, "preflight", None)  # a server: reachable, and the key accepted
            if preflight is not None:
                preflight()
        return self.backend

    # -- how the runner asks (a server's backend answers one sample per call, several at once)
    @property
    def parallel(self) -> int | None:
        """Samples to keep in flight, one per call, each recorded when answered; None: chunks of `chunk`."""
        return getattr(self.backend, "parallel", None)

    def request_counts(self) -> dict[str, int]:
        counts = getattr(self.backend, "request_counts", None)
        return counts() if counts is not None else {}

    def stop(self) -> None:
        cancel = getattr(self.backend, "cancel", None)
        if cancel is not None:
            cancel()

    def _check_loaded_weights(self, folder: Path, previous: dict) -> None:
        """Hub weights are identified by name until loaded: refuse to resume records made with another revision."""
        recorded = (previous.get("model_info") or {}).get("weight_hash")
        loaded = self.backend.info().get("weight_hash")
        if recorded and loaded and recorded != loaded:
            raise LLMRecError(f"{folder / 'manifest.json'}: recorded samples come from weights {recorded[:12]}, "
                              f"the model loaded now has {loaded[:12]}; re-run with --fresh to start over, "
                              "or --output another folder to keep both")

    def render(self, task: Task, template, sample: Sample) -> tuple[str, int, int]:
        """The prompt, how many of the oldest history entries were dropped and how many words were cut from the
        end of the task's text (--truncation text) to fit the context."""
        from llmrec.tasks.text import cut_to_fit

        variables = dict(sample.variables)
        prompt = template.render(variables)
        limit = self.backend.context_length
        if not limit:
            return prompt, 0, 0
        budget = limit - (self.config.max_new_tokens or template.max_new_tokens)
        dropped = cut = 0
        text_cut = False
        text_key = getattr(task, "cuttable", None)  # the task's own long text, if it has one

        def fits(text: str) -> bool:
            n = self.backend.prompt_tokens(template.render({**variables, text_key: text}), template.chat)
            return n is None or n <= budget

        while (n := self.backend.prompt_tokens(prompt, template.chat)) is not None and n > budget:
            if self.config.truncation == "error":
                raise LLMRecError(f"{sample.task} sample {sample.sample_id}: prompt takes {n} tokens, more than "
                                  f"the {budget} the model's context leaves (use --truncation history)")
            key = next((k for k in task.trimmable if variables.get(k)), None)
            if key is not None:
                variables[key] = variables[key][1:]  # oldest first: drop the oldest
                dropped += 1
            elif self.config.truncation == "text" and text_key and not text_cut and (fitted := cut_to_fit(
                    str(variables[text_key]), fits)):
                variables[text_key], cut = fitted
                text_cut = True
            else:
                cuts = self.config.truncation == "text" and text_key
                hint = f" (--truncation text cuts the {text_key} itself)" if text_key and not cuts else ""
                raise LLMRecError(f"{sample.task} sample {sample.sample_id}: prompt takes {n} tokens even with "
                                  f"no history{f' and no {text_key} text' if cuts else ''}; the model's context "
                                  f"leaves {budget}{hint}")
            prompt = template.render(variables)
        return prompt, dropped, cut

    # -- what the manifest records
    def info(self, previous: dict) -> dict | None:
        return self.backend.info() if self.backend is not None else previous.get("model_info")

    def tokens(self, previous: dict) -> dict | None:
        """Counted per invocation: a resumed run adds its own to what earlier invocations recorded."""
        if self.backend is None:
            return previous.get("tokens")
        earlier = previous.get("tokens") or {}
        return {k: None if (n := getattr(self.backend, k, None)) is None else n + (earlier.get(k) or 0)
                for k in ("tokens_in", "tokens_out")}


class RecommenderPredictor:
    chunk = 256
    parallel = None  # answered in chunks

    def request_counts(self) -> dict[str, int]:
        return {}

    def stop(self) -> None:
        pass

    def __init__(self, config):
        from llmrec.recommenders import RECOMMENDERS

        self.config = config
        self.entry = RECOMMENDERS.entry(config.model)
        self.models: dict[str, Any] = {}  # per task, made once
        self.fitted: dict[str, dict] = {}  # per task, what fitting chose

    @staticmethod
    def can_do(model: str, task: Task) -> bool:
        from llmrec.recommenders import RECOMMENDERS

        return task.done_by(RECOMMENDERS.get(model))

    @staticmethod
    def refuses(model: str) -> tuple[str, ...]:
        from llmrec.recommenders import RECOMMENDERS

        return LLM_OPTIONS + (() if RECOMMENDERS.get(model).uses_device else ("device",))

    def settings(self) -> dict:
        return _settings(self.config, self.refuses(self.config.model))

    def model(self, task: Task):
        if task.name not in self.models:
            from llmrec.recommenders import RECOMMENDERS, make_recommender

            if not self.can_do(self.config.model, task):
                able = ", ".join(e.name for e in RECOMMENDERS.entries() if task.done_by(e.value))
                raise LLMRecError(f"model '{self.entry.name}' does not do the {task.name} task (recommenders that "
                                  f"do: {able})")
            c = self.config
            model = make_recommender(c.model, seed=c.seed, device=c.device, options=c.model_args)
            # --fresh trains again once: the tasks after the first reuse what it trained
            model.use_cache(trained_dir(), reuse=not c.fresh or bool(self.models))
            self.models[task.name] = model
        return self.models[task.name]

    def setup(self, task: Task) -> dict:
        self.model(task)  # fails early for a task the model does not do
        return {"shots": 0}

    def task_settings(self, task: Task, setup: dict) -> dict:
        return {"scoring": RECOMMENDED, "template": None, "template_hash": None, "shots": None,
                "max_new_tokens": None, "temperature": None, "sampling_seed": None, "truncation": None}

    def identity(self, tasks: Sequence[Task]) -> dict:
        return {task.name: self.model(task).hyperparameters() for task in tasks}

    def start(self, task: Task, prepared, setup: dict, options: SampleOptions, todo: Sequence[Sample],
              folder: Path, previous: dict) -> Answering:
        model = self.model(task)
        path = folder / FITTED / f"{task.name}.pkl"
        if not model.load(path):  # a resumed run keeps the fit it saved
            model.fit(prepared)
            model.save(path)
        self.fitted[task.name] = model.fit_report()
        queries = dict(zip((s.sample_id for s in todo), task.queries(prepared, todo, options)))

        def answer(samples: Sequence[Sample]) -> list[Answer]:
            predictions = task.recommend(model, [queries[s.sample_id] for s in samples])
            return [Answer(None, None, p) for p in predictions]

        return answer

    def info(self, previous: dict) -> dict:
        earlier = (previous.get("model_info") or {}).get("fitted", {})
        return {"recommender": self.entry.name, "kind": self.entry.value.kind, "about": self.entry.description, "fitted": {**earlier, **self.fitted}}

    def tokens(self, previous: dict) -> dict | None:
        return previous.get("tokens")


def _settings(config, refused: Sequence[str]) -> dict:
    """The options that shape results: all but how the run executes and the other kind's options."""
    s = asdict(config)
    s["sampling_seed"], s["bootstrap_seed"] = config.decoding_seed, config.interval_seed  # as used: unset == --seed
    for k in (*EXECUTION_OPTIONS, *refused):
        s.pop(k, None)
    if s["splits"] == DEFAULT_SPLITS:  # as in the prepared fingerprint: the default keeps earlier runs' identity
        s.pop("splits")
    s["tasks"] = [t.name for t in config.tasks]
    return {k: redact(v) if isinstance(v, str) else v for k, v in s.items()}  # no credentials recorded


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


def adapter_manifest(adapter: str | None) -> tuple[Path | None, dict]:
    """An llmrec adapter's llmrec-adapter.json and what it says ({} for an adapter made elsewhere)."""
    if not adapter:
        return None, {}
    path = Path(adapter).expanduser() / "llmrec-adapter.json"
    return (path, read_json(path)) if path.is_file() else (None, {})


def adapter_template(adapter: str | None) -> str | None:
    """The template an llmrec adapter was trained with."""
    template = adapter_manifest(adapter)[1].get("template")
    return template.get("name") if isinstance(template, dict) else None


def check_adapter_splits(config, task: Task) -> None:
    """Refuse an adapter trained on this task's dataset split otherwise (another --seed, --kcore or --splits):
    its training rows may be this run's test rows. Manifests from before finetune took --kcore and --splits
    trained with their defaults."""
    from llmrec.data import resolve_dataset

    path, manifest = adapter_manifest(config.adapter)
    dataset = config.dataset or task.default_dataset
    for trained in (manifest.get("datasets") or {}).values():
        if trained.get("name") != dataset:
            continue
        recorded = {"seed": trained.get("seed", manifest.get("seed")),
                    "splits": trained.get("splits", DEFAULT_SPLITS)}
        if resolve_dataset(dataset)[0].kcore:
            recorded["kcore"] = trained.get("kcore", DEFAULT_KCORE)
        differ = [k for k, v in recorded.items() if v != getattr(config, k)]
        if differ:
            trained_with = " ".join(f"--{k} {recorded[k]}" for k in differ)
            asked = " ".join(f"--{k} {getattr(config, k)}" for k in differ)
            raise LLMRecError(f"{path}: the adapter was trained on {dataset} split with {trained_with}, this run "
                              f"asks {asked}: its test rows may be the adapter's training rows (bench with "
                              f"{trained_with})")
