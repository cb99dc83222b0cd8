"""`llmrec finetune`: train a LoRA adapter on the training split; the adapter folder gets the options as
config.yaml, so `llmrec finetune --config <adapter>/config.yaml --resume` continues it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from llmrec.cli.common import (CONFIG_HELP, DATA, KCORE_HELP, MODEL, OUTPUT, PROMPT, SPLITS_HELP, TRAINING,
                               check_data_dir, check_datasets, check_model_name)
from llmrec.data.protocols import DEFAULT_KCORE, DEFAULT_SPLITS
from llmrec.errors import LLMRecError

CONFIG_FILE = "config.yaml"
# Not saved in config.yaml: whether to resume is the next call's choice.
NOT_SAVED = ("resume",)


def finetune(
    ctx: typer.Context,
    model: Optional[str] = typer.Option(None, "--model", "-m", rich_help_panel=MODEL, show_default=False,
                                        help="Required. Base model: registry alias, Hugging Face id or local "
                                        "folder."),
    load_in_4bit: bool = typer.Option(False, rich_help_panel=MODEL,
                                      help="QLoRA: 4-bit base weights (CUDA + bitsandbytes)."),
    task: Optional[str] = typer.Option(None, "--task", "-t", rich_help_panel=DATA, show_default=False,
                                       help="Required. rating, sequential, direct, explanation, review: "
                                       "comma-separated, or all."),
    dataset: Optional[str] = typer.Option(None, rich_help_panel=DATA,
                                          help="Dataset for every task (default: each task's own)."),
    limit: Optional[int] = typer.Option(None, min=1, rich_help_panel=DATA,
                                        help="Training examples per task (default: all)."),
    val_size: int = typer.Option(500, min=0, rich_help_panel=DATA,
                                 help="Training examples held out for the validation loss."),
    seed: int = typer.Option(2023, rich_help_panel=DATA,
                             help="Seed for splits, example order, LoRA init and dropout."),
    kcore: int = typer.Option(DEFAULT_KCORE, min=0, rich_help_panel=DATA, help=KCORE_HELP),
    splits: str = typer.Option(DEFAULT_SPLITS, rich_help_panel=DATA, help=SPLITS_HELP),
    template: str = typer.Option("p5-sft", rich_help_panel=PROMPT, help="Prompt template with an 'answer' "
                                 "(prompts/<task>/ or a .yaml path)."),
    cutoff_len: int = typer.Option(512, min=1, rich_help_panel=PROMPT,
                                   help="Tokens per example (prompt + answer); longer ones are cut."),
    epochs: Optional[float] = typer.Option(None, rich_help_panel=TRAINING,
                                           help="Passes over the examples (default 10, as LLMRec)."),
    max_steps: Optional[int] = typer.Option(None, min=1, rich_help_panel=TRAINING,
                                            help="Optimizer steps (instead of --epochs)."),
    lr: float = typer.Option(3e-4, rich_help_panel=TRAINING, help="Learning rate."),
    batch_size: int = typer.Option(2, min=1, rich_help_panel=TRAINING,
                                   help="Examples per device per micro-batch."),
    grad_accum: int = typer.Option(16, min=1, rich_help_panel=TRAINING, help="Micro-batches per optimizer step."),
    warmup_steps: Optional[int] = typer.Option(None, min=0, rich_help_panel=TRAINING,
                                               help="Default: 100, at most 10% of the run."),
    lora_r: int = typer.Option(8, min=1, rich_help_panel=TRAINING, help="LoRA rank."),
    lora_alpha: int = typer.Option(16, min=1, rich_help_panel=TRAINING, help="LoRA alpha."),
    lora_dropout: float = typer.Option(0.05, rich_help_panel=TRAINING, help="LoRA dropout."),
    target_modules: str = typer.Option("q_proj,v_proj", rich_help_panel=TRAINING,
                                       help="Comma-separated module names that get LoRA."),
    eval_steps: int = typer.Option(200, min=1, rich_help_panel=TRAINING,
                                   help="Validation loss every N steps (and at the end)."),
    output: Optional[Path] = typer.Option(None, rich_help_panel=OUTPUT,
                                          help="Adapter folder (default: adapters/<model>-<tasks>-<hash8>)."),
    save_steps: int = typer.Option(200, min=1, rich_help_panel=OUTPUT, help="Checkpoint every N steps."),
    save_total_limit: int = typer.Option(3, min=1, rich_help_panel=OUTPUT, help="Checkpoints kept."),
    resume: bool = typer.Option(False, rich_help_panel=OUTPUT,
                                help="Continue from the last checkpoint in the output folder."),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),
):
    """LoRA supervised finetuning on prompts built from the training split (LLMRec's recipe)."""
    from llmrec.config import merge_options

    run_finetune(ctx, merge_options(ctx, config))


def run_finetune(ctx: typer.Context, options) -> None:
    from llmrec.config import resolved_options
    from llmrec.files import check_writable_folder
    from llmrec.finetune import FinetuneConfig, check_options, default_output, finetune as train
    from llmrec.finetune import parse_target_modules
    from llmrec.tasks import parse_task_list

    o = options.namespace()
    for name in ("model", "task"):
        if not (getattr(o, name) or "").strip():
            raise LLMRecError(f"--{name}: required (on the command line or in --config)")
    check_model_name(o.model, classic_too=False)
    config = FinetuneConfig(
        model=o.model, tasks=tuple(parse_task_list(o.task)), dataset=o.dataset, template=o.template,
        output=o.output, limit=o.limit, epochs=o.epochs, max_steps=o.max_steps, lr=o.lr, batch_size=o.batch_size,
        grad_accum=o.grad_accum, lora_r=o.lora_r, lora_alpha=o.lora_alpha, lora_dropout=o.lora_dropout,
        target_modules=parse_target_modules(o.target_modules), cutoff_len=o.cutoff_len, val_size=o.val_size,
        seed=o.seed, kcore=o.kcore, splits=o.splits, warmup_steps=o.warmup_steps, eval_steps=o.eval_steps,
        save_steps=o.save_steps, save_total_limit=o.save_total_limit, resume=o.resume, load_in_4bit=o.load_in_4bit)
    check_options(config)  # before config.yaml is written
    check_datasets(config)
    folder = Path(config.output) if config.output else default_output(config)
    check_writable_folder(folder, options.flag("output") if o.output else "adapter folder")
    check_data_dir()
    resolved = {**resolved_options(ctx, options.values, NOT_SAVED), "output": str(folder),
                "task": ",".join(t.name for t in config.tasks)}
    save_config(folder, config, resolved)
    folder, _ = train(config)
    typer.echo(str(folder))


def save_config(folder: Path, config, resolved: dict) -> None:
    """config.yaml before training starts (an interrupted run resumes from it), unless the folder holds a
    finished run (its config.yaml describes it) or a run with other settings: the trainer refuses that one,
    and its config.yaml must stay as it was."""
    import json

    from llmrec.config import write_config
    from llmrec.finetune import MANIFEST, SETTINGS_FILE
    from llmrec.records import read_json

    if (folder / MANIFEST).is_file():
        return
    recorded = folder / SETTINGS_FILE
    if recorded.is_file():
        same = json.dumps(read_json(recorded), sort_keys=True, default=str) == \
            json.dumps(config.settings(), sort_keys=True, default=str)
        if not same:
            return
    write_config(folder / CONFIG_FILE, resolved)
