"""The llmrec command line. Each command parses options and calls one function; heavy imports are lazy."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from llmrec.errors import LLMRecError

app = typer.Typer(help="Benchmark large language models as recommender systems (LLMRec / P5 tasks).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
data_app = typer.Typer(help="Prepare and inspect datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@app.command()
def bench(
    ctx: typer.Context,
    model: str = typer.Option(..., "--model", "-m", help="Registry alias, Hugging Face id, local folder, or a "
                              "classic model (random, popularity, itemknn, mf, user-mean, item-mean, lead); "
                              "comma-separated models run on the same samples and end with comparison tables."),
    task: str = typer.Option("all", "--task", "-t", help="rating, sequential, direct, explanation, review: "
                             "comma-separated, or all."),
    dataset: Optional[str] = typer.Option(None, help="Dataset for every task (default: each task's own; "
                                          "see `llmrec data list`)."),
    limit: Optional[int] = typer.Option(None, min=1, help="Evaluate N samples of each task: a seeded random "
                                        "subset, one per user until every user has one."),
    template: Optional[str] = typer.Option(None, help="Prompt template in prompts/<task>/ (or a .yaml path); "
                                           "default: the adapter's training template, else zero-shot."),
    shots: Optional[int] = typer.Option(None, min=0, help="Solved examples from the user's own history "
                                        "(few-shot templates; default: the template's, 3)."),
    candidates: int = typer.Option(100, min=2, help="Candidates per ranking sample: 1 target + N-1 negatives."),
    seed: int = typer.Option(2023, help="Seed for splits, negatives, --limit subsets, candidate order, bootstrap."),
    scoring: str = typer.Option("generate", help="Ranking tasks: generate (parse the model's list) or "
                                "likelihood (rank candidates by log-likelihood)."),
    candidate_order: str = typer.Option("shuffled", help="shuffled, target-first or target-last "
                                        "(probe position bias)."),
    truncation: str = typer.Option("history", help="Prompt longer than the context: history (drop the "
                                   "oldest history items) or error."),
    backend: str = typer.Option("auto", help="auto, hf, vllm or openai."),
    adapter: Optional[str] = typer.Option(None, help="LoRA adapter folder (from `llmrec finetune`)."),
    base_url: Optional[str] = typer.Option(None, help="OpenAI-compatible server URL (key from OPENAI_API_KEY)."),
    batch_size: str = typer.Option("auto", help="Generation batch size (hf), a number or auto."),
    concurrency: int = typer.Option(8, min=1, help="Concurrent API requests (openai backend)."),
    tensor_parallel_size: int = typer.Option(1, min=1, help="GPUs per model (vllm backend)."),
    model_args: Optional[str] = typer.Option(None, help="A recommender's options, KEY=VALUE,... "
                                             "(e.g. k=50 for itemknn; see `llmrec models`)."),
    max_new_tokens: Optional[int] = typer.Option(None, min=1, help="Override the template's generation limit."),
    temperature: float = typer.Option(0.0, min=0.0, help="0 = greedy."),
    output: Path = typer.Option(Path("results/runs"), help="Folder that holds run folders."),
    fresh: bool = typer.Option(False, help="Start over instead of resuming recorded samples."),
):
    """Run tasks on one or more models and record scores (resumes an interrupted run of the same content)."""
    from llmrec.recommenders import parse_model_args
    from llmrec.runner import Bench, BenchConfig, predictor_class
    from llmrec.tasks import parse_task_list

    choices = {"scoring": (scoring, ("generate", "likelihood")),
               "candidate-order": (candidate_order, ("shuffled", "target-first", "target-last")),
               "truncation": (truncation, ("history", "error")),
               "backend": (backend, ("auto", "hf", "vllm", "openai"))}
    for option, (value, allowed) in choices.items():
        if value not in allowed:
            raise LLMRecError(f"--{option}: expected one of {', '.join(allowed)}, got '{value}'")
    if batch_size != "auto" and not (batch_size.isdigit() and int(batch_size) > 0):
        raise LLMRecError(f"--batch-size: expected a positive number or auto, got '{batch_size}'")
    models = list(dict.fromkeys(m.strip() for m in model.split(",") if m.strip()))
    if not models:
        raise LLMRecError("--model: expected a model name, or a comma-separated list")
    # typer carries its own click, so the parameter source is compared by name
    given = [name for name in ctx.params if getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"]
    refused = [name for name in given if all(name in predictor_class(m).refuses(m) for m in models)]
    if refused:
        raise LLMRecError(refusal(refused, models))
    tasks = parse_task_list(task)
    runs = []
    for name in models:
        config = BenchConfig(model=name, tasks=tasks_of(name, tasks, chosen=task.strip() != "all" and len(models) == 1),
                             dataset=dataset, limit=limit, template=template, shots=shots, candidates=candidates,
                             seed=seed, scoring=scoring, candidate_order=candidate_order, truncation=truncation,
                             backend=backend, adapter=adapter, base_url=base_url,
                             batch_size=int(batch_size) if batch_size.isdigit() else batch_size,
                             concurrency=concurrency, tensor_parallel_size=tensor_parallel_size,
                             max_new_tokens=max_new_tokens, temperature=temperature, output=output, fresh=fresh,
                             model_args=parse_model_args(model_args) if model_args else None)
        if not config.tasks:
            continue
        runner = Bench(config)
        metrics = runner.run()
        print_metrics(metrics)
        typer.echo(f"results: {runner.folder}", err=True)
        runs.append(metrics)
    if len(runs) > 1:
        from llmrec.summary import print_comparison

        print_comparison(runs)


def refusal(refused: list[str], models: list[str]) -> str:
    """'--template: does not apply to classic model popularity (they take no prompt)'."""
    from llmrec.runner import LLM_OPTIONS

    flags = ", ".join("--" + name.replace("_", "-") for name in refused)
    if "model_args" in refused:
        kind, reason = "LLM", "only recommenders take options"
    else:
        kind = "classic model"
        reason = "they take no prompt" if set(refused) & set(LLM_OPTIONS) else "they run on the CPU"
    plural = "s" if len(models) > 1 else ""
    return f"{flags}: {'does' if len(refused) == 1 else 'do'} not apply to {kind}{plural} {', '.join(models)} ({reason})"


def tasks_of(model: str, tasks: list, chosen: bool) -> list:
    """The tasks a model runs: a recommender skips those it cannot do (said on stderr) unless the user
    named them for it alone, where the runner refuses with the models that can."""
    from llmrec.runner import predictor_class
    from llmrec.tasks import TASKS

    if chosen:
        return tasks
    predictor = predictor_class(model)
    able = [t for t in tasks if predictor.can_do(model, t)]
    skipped = [t.name for t in tasks if t not in able]
    if skipped:
        does = sorted(t.name for t in TASKS.values() if predictor.can_do(model, t))
        typer.echo(f"{model}: skipping {', '.join(skipped)} (a classic model that does {', '.join(does)})", err=True)
    return able


def print_metrics(metrics: dict) -> None:
    """One table per task on stdout. Classic models cannot give invalid answers, so their rates are left out;
    the strict view differs from the refined one only for generated answers."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    adapter = f" + adapter {metrics['adapter']}" if metrics.get("adapter") else ""
    for name, t in metrics["tasks"].items():
        setting = t["scoring"] + (f", template {t['template']}" if t.get("template") else "")
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


@app.command()
def tasks():
    """List the tasks, their default datasets and templates."""
    from llmrec.prompts import list_templates
    from llmrec.tasks import TASKS

    for t in TASKS.values():
        typer.echo(f"{t.name:12} {t.kind:8} {t.default_dataset:17} templates: {', '.join(list_templates(t.name))}")
        typer.echo(f"{'':12} {t.description}")


@app.command()
def models():
    """List model aliases (LLMs) and classic recommenders."""
    from llmrec.backends import list_models
    from llmrec.recommenders import RECOMMENDERS, tasks_done_by

    for row in list_models():
        typer.echo(f"{row['alias']:14} {row['backend']:7} {row['id']:45} {row.get('description', '')}")
    for e in RECOMMENDERS.entries():
        typer.echo(f"{e.name:14} {'classic':7} {', '.join(sorted(tasks_done_by(e.name))):45} {e.description}")


@data_app.command("list")
def data_list():
    """List the built-in datasets and the source formats."""
    from llmrec.data import DATASETS

    for name, about in DATASETS.items():
        typer.echo(f"{name:18} {about}")


@data_app.command("prepare")
def data_prepare(
    dataset: str = typer.Argument(..., help="Dataset name (see `llmrec data list`)."),
    seed: int = typer.Option(2023), candidates: int = typer.Option(100, min=2),
    refresh: bool = typer.Option(False, help="Prepare again even if cached."),
):
    """Load, split and cache a dataset (deterministic from the seed)."""
    from llmrec.data import prepare_dataset

    p = prepare_dataset(dataset, seed=seed, negatives=candidates - 1, refresh=refresh)
    _describe(p)


@data_app.command("show")
def data_show(dataset: str = typer.Argument(...), seed: int = typer.Option(2023),
              candidates: int = typer.Option(100, min=2)):
    """Show a prepared dataset's sizes, split counts and a few items."""
    from llmrec.data import prepare_dataset

    p = prepare_dataset(dataset, seed=seed, negatives=candidates - 1)
    _describe(p)
    typer.echo(p.items.head(5).to_string())


def _describe(p) -> None:
    typer.echo(f"{p.name}  fingerprint {p.fingerprint[:12]}  seed {p.seed}")
    typer.echo(f"  items {len(p.items)}  users {p.negatives.shape[0] - 1}  negatives/user {p.negatives.shape[1]}")
    for label, frame in (("interactions", p.interactions), ("ratings", p.ratings), ("reviews", p.reviews)):
        if len(frame):
            split = frame["split"].value_counts().to_dict()
            typer.echo(f"  {label:12} {len(frame):>8}  " + "  ".join(f"{k} {split.get(k, 0)}" for k in
                                                                      ("train", "valid", "test")))
    shown = {"interactions", "ratings", "reviews", "items"}
    for k, v in p.stats.items():
        if k not in shown and not k.endswith("_split"):  # those are in the lines above
            typer.echo(f"  {k}: {v}")


@app.command()
def report(
    results: list[Path] = typer.Argument(None, help="Run folders or metrics.json files (default: results/runs)."),
    format: str = typer.Option("md", "--format", "-f", help="md or html."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to a file instead of stdout."),
):
    """Leaderboards per task and dataset from recorded runs."""
    from llmrec.report import load_runs, render_report

    if format not in ("md", "html"):
        raise LLMRecError(f"--format: expected md or html, got '{format}'")
    text = render_report(load_runs(results or [Path("results/runs")]), format)
    if output:
        from llmrec.records import write_text

        write_text(output, text)
        typer.echo(f"report: {output}", err=True)
    else:
        typer.echo(text)


@app.command()
def check(
    baseline: Path = typer.Option(..., help="Baseline metrics JSON (committed under results/baselines/)."),
    current: Optional[Path] = typer.Option(None, help="Run folder or metrics.json (default: the latest run)."),
    tolerance: Optional[str] = typer.Option(None, help="Per-metric absolute tolerance: hr@10=0.02,rmse=0.05"),
    update: bool = typer.Option(False, help="Rewrite the baseline from the current run."),
):
    """Regression gate: exit 0 if no metric got worse than the baseline allows, 1 on regression, 2 on mismatch."""
    from llmrec.check import check as run_check, parse_tolerances

    raise typer.Exit(run_check(baseline, current, parse_tolerances(tolerance) if tolerance else None, update))


@app.command()
def compare(
    runs: list[Path] = typer.Argument(..., metavar="RUN_A RUN_B",
                                      help="Two runs, A then B: run folders or their metrics.json files."),
    task: Optional[str] = typer.Option(None, "--task", "-t", help="Comma-separated tasks (default: every task "
                                       "both runs hold)."),
    n_boot: int = typer.Option(2000, min=1, help="Paired bootstrap resamples for the 95% CI of A-B."),
    n_perm: int = typer.Option(10000, min=1, help="Random swaps for the permutation p-value (all of them, "
                               "exactly, when there are fewer)."),
    seed: int = typer.Option(2023, help="Seed for the bootstrap and the permutations."),
    format: str = typer.Option("table", "--format", "-f", help="table or json."),
):
    """Paired comparison of two runs on their shared samples: A-B per metric, 95% CI, permutation p-value."""
    from llmrec.compare import compare_runs, print_comparisons

    if format not in ("table", "json"):
        raise LLMRecError(f"--format: expected table or json, got '{format}'")
    if len(runs) != 2:
        raise LLMRecError(f"expected two runs (A and B), got {len(runs)}: {' '.join(map(str, runs))}")
    tasks = [t.strip() for t in task.split(",") if t.strip()] if task else None
    print_comparisons(compare_runs(*runs, tasks, n_boot=n_boot, n_perm=n_perm, seed=seed), format)


@app.command()
def finetune(
    model: str = typer.Option(..., "--model", "-m", help="Base model: registry alias, Hugging Face id or local folder."),
    task: str = typer.Option(..., "--task", "-t", help="rating, sequential, direct, explanation, review: "
                             "comma-separated, or all."),
    dataset: Optional[str] = typer.Option(None, help="Dataset for every task (default: each task's own)."),
    template: str = typer.Option("p5-sft", help="Prompt template with an 'answer' (prompts/<task>/ or a .yaml path)."),
    output: Optional[Path] = typer.Option(None, help="Adapter folder (default: adapters/<model>-<tasks>-<hash8>)."),
    limit: Optional[int] = typer.Option(None, min=1, help="Training examples per task (default: all)."),
    epochs: Optional[float] = typer.Option(None, help="Passes over the examples (default 10, as LLMRec)."),
    max_steps: Optional[int] = typer.Option(None, min=1, help="Optimizer steps (instead of --epochs)."),
    lr: float = typer.Option(3e-4, help="Learning rate."),
    batch_size: int = typer.Option(2, min=1, help="Examples per device per micro-batch."),
    grad_accum: int = typer.Option(16, min=1, help="Micro-batches per optimizer step."),
    lora_r: int = typer.Option(8, min=1, help="LoRA rank."),
    lora_alpha: int = typer.Option(16, min=1, help="LoRA alpha."),
    lora_dropout: float = typer.Option(0.05, help="LoRA dropout."),
    target_modules: str = typer.Option("q_proj,v_proj", help="Comma-separated module names that get LoRA."),
    cutoff_len: int = typer.Option(512, min=1, help="Tokens per example (prompt + answer); longer ones are cut."),
    val_size: int = typer.Option(500, min=0, help="Training examples held out for the validation loss."),
    warmup_steps: Optional[int] = typer.Option(None, min=0, help="Default: 100, at most 10% of the run."),
    eval_steps: int = typer.Option(200, min=1, help="Validation loss every N steps (and at the end)."),
    save_steps: int = typer.Option(200, min=1, help="Checkpoint every N steps."),
    save_total_limit: int = typer.Option(3, min=1, help="Checkpoints kept."),
    seed: int = typer.Option(2023, help="Seed for splits, example order, LoRA init and dropout."),
    resume: bool = typer.Option(False, help="Continue from the last checkpoint in the output folder."),
    load_in_4bit: bool = typer.Option(False, help="QLoRA: 4-bit base weights (CUDA + bitsandbytes)."),
):
    """LoRA supervised finetuning on prompts built from the training split (LLMRec's recipe)."""
    from llmrec.finetune import FinetuneConfig, finetune as run_finetune, parse_target_modules
    from llmrec.tasks import parse_task_list

    config = FinetuneConfig(
        model=model, tasks=tuple(parse_task_list(task)), dataset=dataset, template=template, output=output,
        limit=limit, epochs=epochs, max_steps=max_steps, lr=lr, batch_size=batch_size, grad_accum=grad_accum,
        lora_r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
        target_modules=parse_target_modules(target_modules), cutoff_len=cutoff_len, val_size=val_size,
        seed=seed, warmup_steps=warmup_steps, eval_steps=eval_steps, save_steps=save_steps,
        save_total_limit=save_total_limit, resume=resume, load_in_4bit=load_in_4bit)
    folder, _ = run_finetune(config)
    typer.echo(str(folder))


def main() -> None:
    try:
        from llmrec.plugins import load_plugins

        load_plugins()
        app()
    except LLMRecError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted: recorded samples are kept; run the same command again to resume", err=True)
        sys.exit(130)
