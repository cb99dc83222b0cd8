"""The training side of finetuning: the output folder and --resume, the Trainer and its arguments, the manifest.

torch, transformers and peft are imported inside functions.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from llmrec.console import log
from llmrec.errors import LLMRecError
from llmrec.files import read_json, write_json
from llmrec.finetune.config import (MANIFEST, MANIFEST_FORMAT, SETTINGS_FILE, FinetuneConfig, check_options,
                                    default_output)
from llmrec.finetune.examples import IGNORE_INDEX, build_examples, encode_examples, load_sft_template
from llmrec.finetune.model import adapter_base_name, add_lora, check_target_modules, load_base_model, precision

# ---- output folder ---------------------------------------------------------------------------------


def _check_resume_settings(folder: Path, config: FinetuneConfig) -> None:
    """--resume continues only the run whose settings the folder records."""
    settings_path = folder / SETTINGS_FILE
    if not settings_path.exists():
        return
    recorded, current = read_json(settings_path), config.settings()
    same = lambda k: json.dumps(recorded.get(k), default=str) == json.dumps(current.get(k), default=str)  # noqa: E731
    changed = sorted(k for k in set(recorded) | set(current) if not same(k))
    if changed:
        raise LLMRecError(f"{settings_path}: --resume with other settings ({', '.join(changed)}); "
                          "use the same options or another --output")


def finished_run(folder: Path, config: FinetuneConfig) -> dict[str, Any] | None:
    """With --resume, the manifest of a run that already finished in `folder` (same settings), else None."""
    if not (config.resume and (folder / MANIFEST).is_file()):
        return None
    _check_resume_settings(folder, config)
    return read_json(folder / MANIFEST)


def _prepare_output(folder: Path, config: FinetuneConfig) -> str | None:
    """Check the folder against --resume; returns the checkpoint to resume from (or None)."""
    checkpoints = sorted(folder.glob("checkpoint-*")) if folder.is_dir() else []
    if not config.resume:
        if checkpoints or (folder / MANIFEST).exists() or (folder / "adapter_config.json").exists():
            raise LLMRecError(f"{folder}: already holds a finetuning run; pass --resume to continue it, "
                              "or choose another --output")
    else:
        _check_resume_settings(folder, config)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / SETTINGS_FILE, config.settings())
    if not config.resume:
        return None
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(folder))
    if last is None:
        log(f"--resume: no checkpoint in {folder} yet; starting from the beginning")
    return last


# ---- training --------------------------------------------------------------------------------------


def _progress_callback():
    """The Trainer's tqdm bar (steps/s, ETA) with the latest loss in its postfix, evaluations as lines."""
    from transformers.trainer_callback import ProgressCallback

    class LossProgress(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or self.training_bar is None or not logs:
                return
            if "loss" in logs:
                self.training_bar.set_postfix(loss=f"{logs['loss']:.4f}", lr=f"{logs.get('learning_rate', 0):.2e}")
            if "eval_loss" in logs:
                self.training_bar.write(f"step {state.global_step}: validation loss {logs['eval_loss']:.4f}",
                                        file=sys.stderr)

    return LossProgress()


def warmup(config: FinetuneConfig, n_train: int) -> int:
    """LLMRec warms up for 100 steps; a short run warms up for at most 10% of its steps."""
    if config.warmup_steps is not None:
        return config.warmup_steps
    world = int(os.environ.get("WORLD_SIZE", 1))
    per_step = config.batch_size * config.grad_accum * world
    total = config.max_steps or math.ceil((config.epochs or 10) * math.ceil(n_train / per_step))
    return min(100, total // 10)


def training_arguments(config: FinetuneConfig, folder: Path, n_train: int, has_val: bool):
    from transformers import TrainingArguments

    mode = precision()
    return TrainingArguments(
        output_dir=str(folder),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size * 2,  # no gradients: room for more rows
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.lr,
        num_train_epochs=config.epochs if config.epochs is not None else 10.0,
        max_steps=config.max_steps if config.max_steps is not None else -1,
        warmup_steps=warmup(config, n_train),
        lr_scheduler_type="linear",
        optim="adamw_torch",
        logging_steps=1,  # every step's loss is recorded in the manifest
        eval_strategy="steps" if has_val else "no",
        prediction_loss_only=True,  # else evaluation keeps every full-vocabulary logit in memory
        eval_steps=config.eval_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        seed=config.seed,
        data_seed=config.seed,
        bf16=mode == "bf16",
        fp16=mode == "fp16",
        use_cpu=mode == "fp32",
        report_to="none",
        disable_tqdm=False,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False if int(os.environ.get("WORLD_SIZE", 1)) > 1 else None,
    )


def mean_window(n_steps: int) -> int:
    """Steps averaged at each end of the loss curve: up to 10, and never overlapping (one step: itself)."""
    return max(1, min(10, n_steps // 2)) if n_steps else 0


def loss_summary(log_history: list[dict]) -> dict[str, Any]:
    steps = [{"step": e["step"], "loss": e["loss"]} for e in log_history if "loss" in e and "step" in e]
    evals = [{"step": e["step"], "eval_loss": e["eval_loss"]} for e in log_history if "eval_loss" in e]
    losses = [e["loss"] for e in steps]
    window = mean_window(len(losses))

    def mean(values):
        return sum(values) / len(values) if values else None

    final = next((e for e in reversed(log_history) if "train_loss" in e), {})
    return {
        "mean_window": window,
        "first_mean": mean(losses[:window]),
        "last_mean": mean(losses[len(losses) - window:]),
        "train_loss": final.get("train_loss"),
        "final_eval_loss": evals[-1]["eval_loss"] if evals else None,
        "train": steps,
        "eval": evals,
    }


def loss_line(losses: dict[str, Any]) -> str:
    """The training loss curve in a few words that fit the run's length."""
    steps, window = losses["train"], losses["mean_window"]
    if not steps:
        return "no training loss logged"
    if len(steps) == 1:
        return f"loss {steps[0]['loss']:.4f} (one step)"
    if window == 1:
        first, last = steps[0], steps[-1]
        return f"loss step {first['step']} {first['loss']:.4f} -> step {last['step']} {last['loss']:.4f}"
    return f"loss first-{window} mean {losses['first_mean']:.4f} -> last-{window} mean {losses['last_mean']:.4f}"


def examples_seen(n_train: int, steps: int, batch_size: int, grad_accum: int, world: int = 1) -> tuple[int, int]:
    """(training examples the optimizer steps saw, optimizer steps per epoch), as the Trainer batches them.

    Nothing is dropped: each epoch's last optimizer step takes the micro-batches left over (fewer than
    grad_accum) and the epoch's last micro-batch the examples left over, so an epoch is
    ceil(ceil(n / batch) / grad_accum) steps over exactly n examples. Exact for one process; with several
    (`accelerate launch`), each is counted as holding ceil(n / world) examples, an estimate: the sharding
    repeats a few examples to even out the processes' batches.
    """
    per_process = math.ceil(n_train / world)
    per_epoch = math.ceil(math.ceil(per_process / batch_size) / grad_accum)
    full_epochs, partial = divmod(steps, per_epoch)
    # partial < per_epoch: those steps come before the epoch's short last one, so they are full
    return world * (full_epochs * per_process + partial * grad_accum * batch_size), per_epoch


def bench_command(config: FinetuneConfig, folder: Path) -> str:
    """The `llmrec bench` call that evaluates the adapter on the test split of the data it was trained for."""
    import shlex

    words = ["llmrec", "bench", "--model", config.model, "--adapter", str(folder), "--template", config.template,
             "--task", ",".join(t.name for t in config.tasks)]
    defaults = FinetuneConfig(model="", tasks=())
    for option, value, default in (("--dataset", config.dataset, None), ("--seed", config.seed, defaults.seed),
                                   ("--candidates", config.candidates, defaults.candidates),
                                   ("--kcore", config.kcore, defaults.kcore),
                                   ("--splits", config.splits, defaults.splits)):
        if value != default:  # the same data preparation as training (bench's defaults match these)
            words += [option, str(value)]
    return shlex.join(words)


def finetune(config: FinetuneConfig) -> tuple[Path, dict[str, Any]]:
    """Train a LoRA adapter; returns its folder and manifest."""
    with warnings.catch_warnings():
        # Library noise a user can do nothing about: peft looks for config.json under the adapter's
        # base_model_name_or_path (a registry alias here, not a path) to see whether the vocabulary
        # changed (llmrec never resizes it); the Trainer calls a deprecated method of its own.
        for message in ("Could not find a config file in", "Unable to fetch remote file", "`is_gradient_checkpointing`"):
            warnings.filterwarnings("ignore", message=message)
        return _train(config)


def _train(config: FinetuneConfig) -> tuple[Path, dict[str, Any]]:
    started = time.perf_counter()
    check_options(config)
    templates = {t.name: load_sft_template(t.name, config.template) for t in config.tasks}

    from llmrec.backends.models import adapter_sha256, is_api_alias, model_weight_hash, registry, resolve_model

    if is_api_alias(config.model):
        raise LLMRecError(f"--model {config.model} is an API model; finetuning needs open weights")
    folder = Path(config.output) if config.output else default_output(config)
    done = finished_run(folder, config)
    if done is not None:
        log(f"{folder}: the run already finished ({done['training']['global_step']} steps); nothing to do")
        log(f"evaluate it: {bench_command(config, folder)}")
        return folder, done
    resume_from = _prepare_output(folder, config)

    from llmrec.data import prepare_for_run

    prepared, datasets = {}, {}
    for task in config.tasks:
        name = config.dataset or task.default_dataset
        prepared[task.name] = prepare_for_run(name, seed=config.seed, candidates=config.candidates,
                                              kcore=config.kcore, splits=config.splits, cache_dir=config.data_dir)
        datasets[task.name] = {"name": name, "fingerprint": prepared[task.name].fingerprint,
                               **config.split_settings()}
    train_examples, val_examples = build_examples(config.tasks, prepared, templates, config.limit,
                                                  config.val_size, config.seed)

    import transformers

    transformers.set_seed(config.seed)
    resolved = resolve_model(config.model)
    tokenizer, model = load_base_model(resolved, config.load_in_4bit)
    check_target_modules(model, config.target_modules, config.model)
    tokenizer_changed = tokenizer.pad_token is None
    if tokenizer_changed:  # padding positions are masked out of attention and loss, so eos is a safe pad
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"

    chat = {name: t.chat for name, t in templates.items()}
    train_rows, train_counts = encode_examples(tokenizer, train_examples, config.cutoff_len, chat)
    val_rows, val_counts = encode_examples(tokenizer, val_examples, config.cutoff_len, chat)
    if not train_rows:
        raise LLMRecError(f"--cutoff-len {config.cutoff_len}: every training prompt is longer; raise it")
    cut, dropped = train_counts["cut"] + val_counts["cut"], train_counts["dropped"] + val_counts["dropped"]
    if cut or dropped:
        log(f"--cutoff-len {config.cutoff_len}: cut {cut} of {len(train_examples) + len(val_examples)} examples, "
            f"dropped {dropped} (nothing of the response left)")
    per_task = {t.name: sum(e.task == t.name for e in train_examples) for t in config.tasks}
    log(f"finetuning {config.model} on {', '.join(f'{k} {v}' for k, v in per_task.items())} examples "
        f"(+{len(val_rows)} validation, from the training split); output {folder}")

    base_name = adapter_base_name(resolved)
    model = add_lora(model, config, base_name)
    trainable, total = model.get_nb_trainable_parameters()

    from transformers import DataCollatorForSeq2Seq, Trainer
    from transformers.trainer_callback import ProgressCallback

    args = training_arguments(config, folder, len(train_rows), bool(val_rows))
    collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX,
                                      pad_to_multiple_of=8 if precision() != "fp32" else None)
    trainer = Trainer(model=model, args=args, train_dataset=train_rows, eval_dataset=val_rows or None,
                      data_collator=collator, processing_class=tokenizer)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(_progress_callback())
    if resume_from:
        log(f"resuming from {resume_from}")
    trainer.train(resume_from_checkpoint=resume_from)
    evaluated = [e["step"] for e in trainer.state.log_history if "eval_loss" in e]
    if val_rows and (not evaluated or evaluated[-1] != trainer.state.global_step):
        trainer.evaluate()  # the validation loss at the end, unless the last step just measured it
    if not trainer.is_world_process_zero():
        return folder, {}

    model.save_pretrained(str(folder))
    if tokenizer_changed:
        tokenizer.save_pretrained(str(folder))
    hash_value, hash_kind = model_weight_hash(resolved, model.get_base_model())
    from llmrec.records import hardware, library_versions

    losses = loss_summary(trainer.state.log_history)
    seen, steps_per_epoch = examples_seen(len(train_rows), trainer.state.global_step, config.batch_size,
                                          config.grad_accum, args.world_size)
    manifest = {
        "format": MANIFEST_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "adapter_sha256": adapter_sha256(folder),
        "base_model": {
            "name": config.model,
            "id": registry().get(config.model, {}).get("id", resolved.load_id),
            "adapter_base_name": base_name,
            "kind": resolved.kind,
            "weight_hash": hash_value,
            "weight_hash_kind": hash_kind,
        },
        "tasks": [t.name for t in config.tasks],
        "template": {"name": config.template, "sha256": {k: t.sha256 for k, t in templates.items()}},
        "datasets": datasets,
        "hyperparameters": {k: v for k, v in config.settings().items()
                            if k not in ("model", "tasks", "dataset", "template", "seed")}
                           | {"warmup_steps_used": args.warmup_steps, "precision": precision(),
                              "effective_batch_size": config.batch_size * config.grad_accum * args.world_size},
        "seed": config.seed,
        "parameters": {"trainable": trainable, "total": total},
        "counts": {
            "train_examples": len(train_rows),
            "validation_examples": len(val_rows),
            "per_task": per_task,
            "cut": cut,
            "dropped": dropped,
            "train_status": train_counts,
            "validation_status": val_counts,
        },
        "training": {"global_step": trainer.state.global_step, "epochs": trainer.state.epoch,
                     "steps_per_epoch": steps_per_epoch, "examples_seen": seen, "resumed_from": resume_from},
        "losses": losses,
        "tokenizer_saved": tokenizer_changed,
        "library_versions": library_versions(),
        "hardware": hardware(),
        "wall_time_s": round(time.perf_counter() - started, 2),
    }
    write_json(folder / MANIFEST, manifest)
    log(f"done in {manifest['wall_time_s']:.0f}s: {trainer.state.global_step} steps over {seen} examples, "
        + loss_line(losses)
        + (f", validation loss {losses['final_eval_loss']:.4f}" if losses["final_eval_loss"] is not None else ""))
    log(f"evaluate it: {bench_command(config, folder)}")
    return folder, manifest
