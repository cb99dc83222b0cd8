"""`llmrec bench`: run tasks on one or more models, print one table per task, record each run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer

from llmrec.backends import CHOICES as BACKEND_CHOICES
from llmrec.cli.common import (CONFIG_HELP, DATA, KCORE_HELP, MODEL, OUTPUT, PROMPT, SPLITS_HELP, check_datasets,
                               check_model_name)
from llmrec.data.protocols import DEFAULT_KCORE, DEFAULT_SPLITS
from llmrec.errors import LLMRecError

# Options with a fixed set of values: option -> the values it takes.
CHOICES = {"scoring": ("generate", "likelihood"),
           "candidate_order": ("shuffled", "target-first", "target-last"),
           "truncation": ("history", "text", "error"),
           "backend": BACKEND_CHOICES,
           "dtype": ("auto", "float32", "bfloat16", "float16")}
DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")
# Not part of a run's saved config.yaml: re-running it must resume, not start over.
NOT_SAVED = ("fresh",)


def bench(
    ctx: typer.Context,
    model: Optional[str] = typer.Option(None, "--model", "-m", rich_help_panel=MODEL, show_default=False,
                                        help="Required. Registry alias, Hugging Face id, local folder, or a "
                                        "classic recommender (see `llmrec models`); comma-separated models run "
                                        "on the same samples and end with comparison tables."),
    task: str = typer.Option("all", "--task", "-t", rich_help_panel=DATA,
                             help="rating, sequential, direct, explanation, review: comma-separated, or all."),
    dataset: Optional[str] = typer.Option(None, rich_help_panel=DATA, help="Dataset for every task (default: each "
                                          "task's own; see `llmrec data list`)."),
    limit: Optional[int] = typer.Option(None, min=1, rich_help_panel=DATA, help="Evaluate N samples of each task: "
                                        "a seeded random subset, one per user until every user has one."),
    candidates: int = typer.Option(100, min=2, rich_help_panel=DATA,
                                   help="Candidates per ranking sample: 1 target + N-1 negatives."),
    candidate_order: str = typer.Option("shuffled", rich_help_panel=DATA, help="shuffled, target-first or "
                                        "target-last (probe position bias)."),
    seed: int = typer.Option(2023, rich_help_panel=DATA,
                             help="Seed for splits, negatives, --limit subsets, candidate order, bootstrap."),
    bootstrap_seed: Optional[int] = typer.Option(None, rich_help_panel=DATA, help="Seed of the resamples behind "
                                                 "the 95% intervals alone (default: --seed)."),
    kcore: int = typer.Option(DEFAULT_KCORE, min=0, rich_help_panel=DATA, help=KCORE_HELP),
    splits: str = typer.Option(DEFAULT_SPLITS, rich_help_panel=DATA, help=SPLITS_HELP),
    template: Optional[str] = typer.Option(None, rich_help_panel=PROMPT, help="Prompt template in prompts/<task>/ "
                                           "(or a .yaml path); default: the adapter's training template, else "
                                           "zero-shot."),
    shots: Optional[int] = typer.Option(None, min=0, rich_help_panel=PROMPT, help="Solved examples from the "
                                        "user's own history (few-shot templates; default: the template's, 3)."),
    scoring: str = typer.Option("generate", rich_help_panel=PROMPT, help="Ranking tasks: generate (parse the "
                                "model's list) or likelihood (rank candidates by log-likelihood)."),
    truncation: str = typer.Option("history", rich_help_panel=PROMPT, help="Prompt longer than the context: "
                                   "history (drop the oldest history items), text (history, then cut the "
                                   "review to summarize from its end) or error."),
    max_new_tokens: Optional[int] = typer.Option(None, min=1, rich_help_panel=PROMPT,
                                                 help="Override the template's generation limit."),
    temperature: float = typer.Option(0.0, min=0.0, rich_help_panel=PROMPT, help="0 = greedy."),
    sampling_seed: Optional[int] = typer.Option(None, rich_help_panel=PROMPT, help="Seed of the LLM's sampling "
                                                "alone (with --temperature > 0; default: --seed)."),
    backend: str = typer.Option("auto", rich_help_panel=MODEL, help="auto, hf, vllm or openai."),
    adapter: Optional[str] = typer.Option(None, rich_help_panel=MODEL,
                                          help="LoRA adapter folder (from `llmrec finetune`)."),
    device: str = typer.Option("auto", rich_help_panel=MODEL, help="auto, cpu, cuda or cuda:N."),
    dtype: str = typer.Option("auto", rich_help_panel=MODEL, help="Local LLM weights: auto (bf16 on a GPU that "
                              "has it, else fp32), float32, bfloat16 or float16."),
    batch_size: str = typer.Option("auto", rich_help_panel=MODEL, help="Generation batch size (hf), a number "
                                   "or auto."),
    tensor_parallel_size: int = typer.Option(1, min=1, rich_help_panel=MODEL, help="GPUs per model (vllm)."),
    base_url: Optional[str] = typer.Option(None, rich_help_panel=MODEL, help="OpenAI-compatible server URL "
                                           "(key from OPENAI_API_KEY, or user:password@ as basic auth; "
                                           "recorded without secrets)."),
    concurrency: int = typer.Option(8, min=1, rich_help_panel=MODEL, help="Concurrent API requests (openai)."),
    model_args: Optional[str] = typer.Option(None, rich_help_panel=MODEL, help="A recommender's options, "
                                             "KEY=VALUE,... (e.g. k=50 for itemknn; see `llmrec models`)."),
    timeout: float = typer.Option(60.0, rich_help_panel=MODEL, help="Seconds per API request (openai)."),
    max_retries: int = typer.Option(6, min=0, rich_help_panel=MODEL,
                                    help="Retries of a failed API request (openai)."),
    output: Optional[Path] = typer.Option(None, rich_help_panel=OUTPUT, show_default=False, help="Folder that holds "
                                          "run folders [default: results/runs, or $LLMREC_HOME/results/runs]."),
    fresh: bool = typer.Option(False, rich_help_panel=OUTPUT, help="Start over instead of resuming recorded "
                               "samples."),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),
):
    """Run tasks on one or more models and record scores (resumes an interrupted run of the same content)."""
    from llmrec.config import merge_options

    run_bench(ctx, merge_options(ctx, config))


def run_bench(ctx: typer.Context, options) -> None:
    from llmrec.config import resolved_options
    from llmrec.recommenders import parse_model_args
    from llmrec.evaluation.runner import Bench, BenchConfig, predictor_class
    from llmrec.home import runs_dir
    from llmrec.tasks import parse_task_list

    o = options.namespace()
    check_options(o, options.flag)
    models = from_file_named(options, "model", lambda: model_names(o))
    refuse_options(options, models)
    output = o.output or runs_dir()
    check_destinations(options.flag("output") if o.output else "run folder", output)
    tasks = from_file_named(options, "task", lambda: parse_task_list(o.task))
    runners = []
    for name in models:
        own_tasks = tasks_of(name, tasks, chosen=o.task.strip() != "all" and len(models) == 1)
        if not own_tasks:
            continue
        skip = NOT_SAVED + predictor_class(name).refuses(name)
        resolved = {**resolved_options(ctx, options.values, skip), "model": name,
                    "task": ",".join(t.name for t in own_tasks)}
        config = BenchConfig(model=name, tasks=own_tasks, dataset=o.dataset, limit=o.limit, template=o.template,
                             shots=o.shots, candidates=o.candidates, seed=o.seed, sampling_seed=o.sampling_seed,
                             bootstrap_seed=o.bootstrap_seed, scoring=o.scoring,
                             candidate_order=o.candidate_order, truncation=o.truncation, backend=o.backend,
                             adapter=o.adapter, base_url=o.base_url,
                             batch_size=int(o.batch_size) if o.batch_size.isdigit() else o.batch_size,
                             concurrency=o.concurrency, tensor_parallel_size=o.tensor_parallel_size,
                             max_new_tokens=o.max_new_tokens, temperature=o.temperature, device=o.device,
                             dtype=o.dtype, timeout=o.timeout, max_retries=o.max_retries, kcore=o.kcore,
                             splits=o.splits,
                             output=output, fresh=o.fresh, resolved=resolved,
                             model_args=parse_model_args(o.model_args) if o.model_args else None)
        runners.append(Bench(config))
    for runner in runners:  # every model's inputs are checked before any data is prepared or run started
        from_file_named(options, "dataset", lambda: check_datasets(runner.config))
        check_start(runner.config)
    runs = []
    for runner in runners:
        metrics = run_leaving_nothing_on_failure(runner, output)
        print_metrics(metrics)
        typer.echo(f"results: {runner.folder}", err=True)
        runs.append(metrics)
    if len(runs) > 1:
        from llmrec.reporting.summary import print_comparison

        print_comparison(runs)


def check_destinations(output_flag: str, output: Path) -> None:
    """The run folders' and the prepared data's folders can be written: refused in one line before any work."""
    from llmrec.cli.common import check_data_dir
    from llmrec.files import check_writable_folder

    check_writable_folder(output, output_flag)
    check_data_dir()


def from_file_named(options, name: str, check):
    """`check()`, whose refusal of the option `name` also says which config file set it (if one did)."""
    try:
        return check()
    except LLMRecError as e:
        if name not in options.from_file:
            raise
        message, bare = str(e), f"--{name.replace('_', '-')}: "
        raise LLMRecError(f"{options.flag(name)}: {message.removeprefix(bare)}") from None


def check_start(config) -> None:
    """What can refuse a run without its data: each task's template or the model's ability to do it, the model's
    weights and adapter. Checked for every task before the first task prepares data."""
    from llmrec.evaluation.runner import predictor_class

    predictor = predictor_class(config.model)(config)
    for task in config.tasks:
        predictor.setup(task)
    predictor.identity(config.tasks)


def run_leaving_nothing_on_failure(runner, output: Path) -> dict:
    """The run; one that fails before recording a sample (the model does not load, the server refuses, the
    first prompt does not render or fit) takes away the run folder it made, and the folders made for it."""
    from llmrec.files import nearest_existing
    from llmrec.records import discard_unstarted

    existed = nearest_existing(output)
    try:
        return runner.run()
    except BaseException:
        if runner.folder is not None:
            discard_unstarted(runner.folder, keep=existed)
        raise


def check_options(o, flag) -> None:
    """Values typer's types cannot check, each refused in one line (`flag` names the option and where it was set)."""
    for option, allowed in CHOICES.items():
        value = getattr(o, option)
        if value not in allowed:
            raise LLMRecError(f"{flag(option)}: expected one of {', '.join(allowed)}, got '{value}'")
    if not DEVICE.fullmatch(o.device):
        raise LLMRecError(f"{flag('device')}: expected auto, cpu, cuda or cuda:N, got '{o.device}'")
    if o.batch_size != "auto" and not (o.batch_size.isdigit() and int(o.batch_size) > 0):
        raise LLMRecError(f"{flag('batch_size')}: expected a positive number or auto, got '{o.batch_size}'")
    if not o.timeout > 0:
        raise LLMRecError(f"{flag('timeout')}: expected a positive number of seconds, got {o.timeout}")


def model_names(o) -> list[str]:
    """--model's comma-separated names, each checked for a typo of a known one."""
    models = list(dict.fromkeys(m.strip() for m in (o.model or "").split(",") if m.strip()))
    if not models:
        raise LLMRecError("--model: expected a model name, or a comma-separated list")
    for name in models:
        check_model_name(name, base_url=o.base_url, backend=o.backend)
    return models


def refuse_options(options, models: list[str]) -> None:
    """An option (given as a flag or in the config file) that none of the models takes: refused, not ignored."""
    from llmrec.evaluation.runner import LLM_OPTIONS, predictor_class

    first = predictor_class(models[0]).refuses(models[0])  # in its order: messages do not depend on set order
    refused = [name for name in first if name in options.given
               and all(name in predictor_class(m).refuses(m) for m in models)]
    if not refused:
        return
    flags = ", ".join("--" + name.replace("_", "-") for name in refused)
    where = f" (set in {options.path})" if options.from_file & set(refused) else ""
    one = len(refused) == 1
    if "model_args" in refused:
        kind, reason = "LLM", "only recommenders take options this way"
    elif set(refused) & set(LLM_OPTIONS):
        kind, reason = "classic model", "it is an LLM option" if one else "they are LLM options"
    else:
        kind, reason = "classic model", "it runs on the CPU" if len(models) == 1 else "they run on the CPU"
    raise LLMRecError(f"{flags}{where}: {'does' if one else 'do'} not apply to {kind}"
                      f"{'s' if len(models) > 1 else ''} {', '.join(models)} ({reason})")


def tasks_of(model: str, tasks: list, chosen: bool) -> list:
    """The tasks a model runs: a recommender skips those it cannot do (said on stderr) unless the user
    named them for it alone, where the runner refuses with the models that can."""
    from llmrec.evaluation.runner import predictor_class
    from llmrec.tasks import TASKS

    if chosen:
        return tasks
    predictor = predictor_class(model)
    able = [t for t in tasks if predictor.can_do(model, t)]
    skipped = [t.name for t in tasks if t not in able]
    if skipped:
        does = [t.name for t in TASKS.values() if predictor.can_do(model, t)]
        typer.echo(f"{model}: skipping {', '.join(skipped)} (a recommender that does {', '.join(does)})", err=True)
    return able


def answered_by(model: str, scoring: str) -> str:
    """How the answers came: an LLM's scoring, or the kind of recommender that gave them (classic or trained;
    recorded as the one scoring "classic", which run ids keep)."""
    from llmrec.recommenders import RECOMMENDERS
    from llmrec.tasks.base import RECOMMENDED

    if scoring != RECOMMENDED or model not in RECOMMENDERS:
        return scoring
    return RECOMMENDERS.get(model).kind


def print_metrics(metrics: dict) -> None:
    """One table per task on stdout. Classic models cannot give invalid answers, so their rates are left out;
    the strict view differs from the refined one only for generated answers."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    adapter = f" + adapter {metrics['adapter']}" if metrics.get("adapter") else ""
    for name, t in metrics["tasks"].items():
        setting = answered_by(metrics["model"], t["scoring"])
        if t.get("template"):
            setting += f", template {t['template']}"
        if t.get("shots"):
            setting += f", {t['shots']} shots"
        console.print(f"[bold]{metrics['model']}{adapter}[/bold] · {name} · {t['dataset']} · {t['n_samples']} "
                      f"samples · {setting}", highlight=False)
        table = Table("metric", "value", "95% CI")
        for metric, v in t["metrics"].items():
            if t["scoring"] == "classic" and metric.endswith("_rate"):
                continue
            if t["scoring"] != "generate" and metric.startswith("strict_"):
                continue  # a ranked list given directly: both views are the same
            lo, hi = v["ci"]
            table.add_row(metric, f"{v['value']:.4f}", f"[{lo:.4f}, {hi:.4f}]")
        console.print(table)
        counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in t["counts"].items() if k != "samples" and v)
        if counts:
            console.print(f"  {counts}", highlight=False)
        console.print()
