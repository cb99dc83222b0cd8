"""The judge stage: ask a judge model about recorded outputs, record every verdict, score, resume.

One judgment is a folder inside the judged run (run A for pairwise): `judgments/<mode>-<judge>__<hash>/`
with `samples.jsonl` (one record per judged sample: each request's prompt, the judge's reply and the
verdict read from it) and `judgment.json` (identity, the judge's model info, metrics per task and what
each invocation asked). The hash is of the judgment's identity: the judged run(s), the judge model and
its weights, the judge templates' SHA-256, the decoding settings and the version of the verdict readers; change any of them and a new
folder starts, so verdicts made under other content are never reused. Records are appended and
fsynced after each chunk of samples, so a killed judgment loses at most the chunk in flight and the
same command resumes it, asking nothing already recorded. A sample whose output changed since it was
judged (the run was re-made with --fresh) is judged again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from llmrec.console import log, progress
from llmrec.errors import LLMRecError
from llmrec.files import read_json, write_json
from llmrec.judging.inputs import (JudgedRun, JudgedSample, JudgedTask, check_pairable, check_same_references,
                                   judged_task, load_judged_run, output_sha256)
from llmrec.judging.stats import pairwise_metrics, pairwise_outcome, pointwise_metrics
from llmrec.judging.templates import JudgeTemplate, load_judge_template
from llmrec.judging.verdicts import VERDICTS_VERSION, parse_preference, parse_score
from llmrec.records import SAMPLES_FILE, SampleLog, run_id
from llmrec.types import GenerateRequest

FORMAT = 1
JUDGMENTS_DIR = "judgments"  # inside a run folder
JUDGMENT_FILE = "judgment.json"
ORDERS = ("ab", "ba")  # pairwise: run A's output shown first, then run B's first
# What a position-letter verdict means for the runs, in each order.
TO_RUNS = {"ab": {"A": "A", "B": "B", "tie": "tie"}, "ba": {"A": "B", "B": "A", "tie": "tie"}}


@dataclass
class JudgeConfig:
    judge_model: str
    runs: list[Path]  # pointwise: each is judged; pairwise: exactly A and B
    mode: str = "pointwise"  # pointwise | pairwise
    tasks: list[str] | None = None  # None: every task of the runs that has a judge template
    template: str | None = None  # None: prompts/judge/<task>-<mode>.yaml
    backend: str = "auto"
    base_url: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int | str = "auto"
    concurrency: int = 8
    timeout: float = 60.0
    max_retries: int = 6
    max_new_tokens: int | None = None  # None: the template's
    temperature: float = 0.0
    seed: int = 2023  # the judge's sampling (with temperature > 0)
    fresh: bool = False
    data_dir: Path | None = None  # prepared data (default: llmrec.home.data_dir()/prepared)
    chunk: int = field(default=8, repr=False)  # samples per judge call; recorded after each


Backend = Any  # llmrec.types.Backend
BackendLoader = Callable[[JudgeConfig], Backend]


def load_judge_backend(config: JudgeConfig) -> Backend:
    from llmrec.backends import load_backend

    c = config
    return load_backend(c.judge_model, backend=c.backend, base_url=c.base_url, batch_size=c.batch_size,
                        device=c.device, dtype=c.dtype, concurrency=c.concurrency, seed=c.seed, timeout=c.timeout,
                        max_retries=c.max_retries)


def judge_label(model: str) -> str:
    """A judge's short name in folder and metric names: the model's last path component."""
    return run_id(model, {}).split("__")[0]


@dataclass
class Judgment:
    """One judgment being made: what it judges, under which identity, in which folder."""

    config: JudgeConfig
    mode: str
    judged: list[JudgedRun]  # [run] pointwise, [A, B] pairwise
    tasks: dict[str, list[JudgedTask]]  # task -> the judged tasks of each run, aligned with `judged`
    templates: dict[str, JudgeTemplate]
    identity: dict = field(default_factory=dict)
    folder: Path | None = None

    def __post_init__(self):
        from llmrec.backends import weights_identity

        c = self.config
        self.identity = {
            "mode": self.mode, "runs": [j.run_id for j in self.judged], "verdicts_version": VERDICTS_VERSION,
            "tasks": {t: {"template": tpl.name, "template_hash": tpl.sha256} for t, tpl in self.templates.items()},
            "judge": {"model": c.judge_model, "backend": c.backend, "base_url": c.base_url,
                      "weights": weights_identity(c.judge_model, backend=c.backend, base_url=c.base_url),
                      "max_new_tokens": c.max_new_tokens, "temperature": c.temperature,
                      "seed": c.seed if c.temperature > 0 else None}}
        name = f"{self.mode}-{run_id(c.judge_model, self.identity)}"
        self.folder = self.judged[0].folder / JUDGMENTS_DIR / name


def plan_judgments(config: JudgeConfig) -> list[Judgment]:
    """Every judgment the command makes, each input checked before anything is asked."""
    from llmrec.recommenders import is_recommender

    if config.mode not in ("pointwise", "pairwise"):
        raise LLMRecError(f"--mode: expected pointwise or pairwise, got '{config.mode}'")
    if is_recommender(config.judge_model):
        raise LLMRecError(f"--judge-model {config.judge_model}: a classic recommender writes no verdicts; expected "
                          "an LLM (an alias, hub id, local folder, or a model behind --base-url)")
    runs = [load_judged_run(p) for p in config.runs]
    if config.mode == "pairwise":
        if len(runs) != 2:
            raise LLMRecError(f"--mode pairwise: expected two runs (A and B), got {len(runs)}")
        groups = [runs]
    else:
        groups = [[r] for r in runs]
    return [_plan(config, group) for group in groups]


def _plan(config: JudgeConfig, runs: list[JudgedRun]) -> Judgment:
    names = _chosen_tasks(config, runs)
    if config.template and len(names) > 1:
        raise LLMRecError(f"--template {config.template}: one judge template for {len(names)} tasks "
                          f"({', '.join(names)}); choose one with --task")
    templates = {t: load_judge_template(t, config.mode, config.template) for t in names}
    if config.mode == "pairwise":
        for t in names:
            check_pairable(runs[0], runs[1], t)
    tasks = {t: [judged_task(r, t, config.data_dir) for r in runs] for t in names}
    if config.mode == "pairwise":
        for a, b in tasks.values():
            check_same_references(a, b)
    return Judgment(config, config.mode, runs, tasks, templates)


def _chosen_tasks(config: JudgeConfig, runs: list[JudgedRun]) -> list[str]:
    from llmrec.judging.templates import judged_tasks

    held = [t for t in runs[0].run["tasks"] if all(t in r.run["tasks"] for r in runs)]
    if config.tasks:
        for run in runs:
            missing = [t for t in config.tasks if t not in run.run["tasks"]]
            if missing:
                raise LLMRecError(f"--task: run {run.folder} has no {', '.join(missing)} "
                                  f"(it holds {', '.join(run.run['tasks'])})")
        return list(dict.fromkeys(config.tasks))
    judgeable = [t for t in held if t in judged_tasks()]
    if not judgeable:
        raise LLMRecError(f"{runs[0].folder}: no task to judge: it holds {', '.join(runs[0].run['tasks'])}, judge "
                          f"templates exist for {', '.join(judged_tasks())}")
    return judgeable


class Judge:
    """Makes one judgment: resumes its records, asks the judge what is missing, scores, writes judgment.json."""

    def __init__(self, judgment: Judgment, load: BackendLoader = load_judge_backend):
        self.j = judgment
        self.config = judgment.config
        self.load = load
        self.backend = None
        self.requests = 0  # sent by this invocation

    def run(self) -> dict:
        folder = self.j.folder
        if self.config.fresh:
            for name in (SAMPLES_FILE, JUDGMENT_FILE):
                (folder / name).unlink(missing_ok=True)
        previous = read_json(folder / JUDGMENT_FILE) if (folder / JUDGMENT_FILE).is_file() else {}
        folder.mkdir(parents=True, exist_ok=True)
        records = SampleLog(folder / SAMPLES_FILE)
        if records.records:
            log(f"resuming {folder}: {len(records.records)} samples already judged")
        started, judged_now = time.perf_counter(), 0
        for task, judged in self.j.tasks.items():
            todo = [i for i in judged[0].samples if not self._recorded(records, task, i, judged)]
            if todo:
                self._judge(task, judged, todo, records, previous)
                judged_now += len(todo)
        result = self._result(records, previous, judged_now, time.perf_counter() - started)
        write_json(folder / JUDGMENT_FILE, result)
        return result

    def _outputs_sha(self, judged: list[JudgedTask], sample_id: str) -> list[str]:
        return [output_sha256(t.samples[sample_id].output) for t in judged]

    def _recorded(self, records: SampleLog, task: str, sample_id: str, judged: list[JudgedTask]) -> bool:
        record = records.records.get((task, sample_id))
        return record is not None and record.get("output_sha256") == self._outputs_sha(judged, sample_id)

    # -- asking
    def _judge(self, task: str, judged: list[JudgedTask], todo: list[str], records: SampleLog, previous: dict):
        template = self.j.templates[task]
        backend = self._backend(previous)
        ask = self._pointwise if self.j.mode == "pointwise" else self._pairwise
        with progress(f"judge {task}", len(todo)) as advance:
            for start in range(0, len(todo), self.config.chunk):
                chunk = todo[start:start + self.config.chunk]
                records.append(ask(backend, task, template, judged, chunk))
                advance(len(chunk))

    def _backend(self, previous: dict):
        if self.backend is None:
            self.backend = self.load(self.config)
            recorded = (previous.get("judge_info") or {}).get("weight_hash")
            loaded = self.backend.info().get("weight_hash")
            if recorded and loaded and recorded != loaded:
                raise LLMRecError(f"{self.j.folder / JUDGMENT_FILE}: recorded verdicts come from judge weights "
                                  f"{recorded[:12]}, the judge loaded now has {loaded[:12]}; re-run with --fresh")
        return self.backend

    def _generate(self, template: JudgeTemplate, prompts: list[str], where: list[str]) -> list[str]:
        c, backend = self.config, self.backend
        max_new = c.max_new_tokens or template.max_new_tokens
        limit = backend.context_length
        for prompt, sample in zip(prompts, where):  # a judge prompt is never cut: cutting changes what is judged
            n = backend.prompt_tokens(prompt, template.chat) if limit else None
            if n is not None and n > limit - max_new:
                raise LLMRecError(f"{sample}: the judge prompt takes {n} tokens, more than the {limit - max_new} the "
                                  f"judge's context leaves ({template.path})")
        requests = [GenerateRequest(p, chat=template.chat, max_new_tokens=max_new, temperature=c.temperature,
                                    seed=c.seed) for p in prompts]
        self.requests += len(requests)
        return [reply[0] if reply else "" for reply in backend.generate(requests)]

    def _pointwise(self, backend, task: str, template: JudgeTemplate, judged: list[JudgedTask],
                   chunk: list[str]) -> list[dict]:
        criteria = list(template.criteria)
        prompts, where = [], []
        for sample_id in chunk:
            s = judged[0].samples[sample_id]
            for criterion in criteria:
                prompts.append(template.render(_variables(s, criterion=criterion,
                                                          description=template.criteria[criterion], output=s.output)))
                where.append(f"{task} sample {sample_id}")
        replies = iter(zip(prompts, self._generate(template, prompts, where)))
        out = []
        for sample_id in chunk:
            verdicts = {}
            for criterion in criteria:
                prompt, reply = next(replies)
                verdicts[criterion] = {"prompt": prompt, "reply": reply, "score": parse_score(reply)}
            out.append({"task": task, "sample_id": sample_id, "output_sha256": self._outputs_sha(judged, sample_id),
                        "scores": {c: v["score"] for c, v in verdicts.items()}, "verdicts": verdicts})
        return out

    def _pairwise(self, backend, task: str, template: JudgeTemplate, judged: list[JudgedTask],
                  chunk: list[str]) -> list[dict]:
        a, b = judged
        prompts, where = [], []
        for sample_id in chunk:
            sa, sb = a.samples[sample_id], b.samples[sample_id]
            for first, second in ((sa, sb), (sb, sa)):
                prompts.append(template.render(_variables(sa, output_a=first.output, output_b=second.output)))
                where.append(f"{task} sample {sample_id}")
        replies = iter(zip(prompts, self._generate(template, prompts, where)))
        out = []
        for sample_id in chunk:
            orders = {}
            for order in ORDERS:
                prompt, reply = next(replies)
                verdict = parse_preference(reply)
                orders[order] = {"prompt": prompt, "reply": reply, "verdict": verdict,
                                 "preferred": None if verdict is None else TO_RUNS[order][verdict]}
            outcome, consistent = pairwise_outcome(orders["ab"]["preferred"], orders["ba"]["preferred"])
            out.append({"task": task, "sample_id": sample_id, "output_sha256": self._outputs_sha(judged, sample_id),
                        "outcome": outcome, "consistent": consistent, "orders": orders})
        return out

    # -- scoring and the judgment file
    def _result(self, records: SampleLog, previous: dict, judged_now: int, wall: float) -> dict:
        tasks = {}
        for task, judged in self.j.tasks.items():
            recs = [records.records[(task, i)] for i in judged[0].samples]
            seed = judged[0].entry.get("bootstrap_seed", judged[0].entry.get("seed", 0))
            if self.j.mode == "pointwise":
                criteria = list(self.j.templates[task].criteria)
                metrics = pointwise_metrics([r["scores"] for r in recs], criteria, seed=seed)
                unread = {c: sum(r["scores"].get(c) is None for r in recs) for c in criteria}
                counts = {"samples": len(recs), "verdicts": len(recs) * len(criteria),
                          "parse_failed": sum(unread.values()), "parse_failed_by_criterion": unread}
            else:
                metrics = pairwise_metrics([(r["outcome"], r["consistent"]) for r in recs], seed=seed)
                counts = {"samples": len(recs), "requests": 2 * len(recs),
                          "parse_failed": sum(o["verdict"] is None for r in recs for o in r["orders"].values()),
                          **{k: sum(r["outcome"] == k for r in recs) for k in ("win", "tie", "loss")},
                          "inconsistent": sum(r["consistent"] is False for r in recs)}
            template = self.j.templates[task]
            tasks[task] = {"template": template.name, "template_hash": template.sha256,
                           "criteria": template.criteria, "dataset": judged[0].entry.get("dataset"),
                           "n_samples": len(recs), "bootstrap_seed": seed, "metrics": metrics, "counts": counts}
        invocation = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "samples_judged": judged_now,
                      "requests": self.requests, "wall_time_s": round(wall, 3)}
        judge_info = self.backend.info() if self.backend is not None else previous.get("judge_info")
        return {"format": FORMAT, "mode": self.j.mode, "judge": self.config.judge_model,
                "judge_label": judge_label(self.config.judge_model), "judge_info": judge_info,
                "runs": [{"run_id": r.run_id, "model": r.run["model"], "path": str(r.folder)} for r in self.j.judged],
                "identity": self.j.identity, "tasks": tasks,
                "requests": int(previous.get("requests", 0)) + self.requests,
                "invocations": [*previous.get("invocations", []), invocation]}


def _variables(sample: JudgedSample, **extra) -> dict:
    return {**sample.variables, "reference": sample.reference, **extra}


def judge(config: JudgeConfig, load: BackendLoader = load_judge_backend) -> list[tuple[Judgment, dict]]:
    """Plan every judgment (all inputs checked first), then make them one after another; the backend loads
    once, and only when something is left to ask."""
    judgments = plan_judgments(config)
    shared: dict[str, Backend] = {}

    def once(c: JudgeConfig) -> Backend:
        if "backend" not in shared:
            shared["backend"] = load(c)
        return shared["backend"]

    return [(j, Judge(j, once).run()) for j in judgments]
