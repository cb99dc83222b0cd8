"""Supervised LoRA finetuning on prompts built from the training split (LLMRec's recipe).

Examples come only from training rows: every sample is checked against its task's training split
before anything is trained. A seeded slice of those examples is held out for the validation loss, so
the valid and test splits stay untouched for `llmrec bench`. Loss is computed on the response tokens
only. The output is a peft adapter folder with a manifest (`llmrec-adapter.json`) saying what the
adapter was trained on and how; `llmrec bench --adapter DIR` checks it against the base model.

torch, transformers and peft are imported inside functions: the CLI imports this module lazily.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from llmrec.errors import LLMRecError
from llmrec.tasks import SampleOptions, Task
from llmrec.types import Sample

MANIFEST = "llmrec-adapter.json"
SETTINGS_FILE = "llmrec-finetune-settings.json"  # written before training; --resume compares against it
IGNORE_INDEX = -100  # label value the loss skips (prompt tokens, padding)
MANIFEST_FORMAT = 1
# Which prepared frame holds the rows a task's samples come from.
FRAME_OF_KIND = {"rating": "ratings", "ranking": "interactions", "text": "reviews"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class FinetuneConfig:
    model: str
    tasks: tuple[Task, ...]
    dataset: str | None = None  # None: each task's default dataset
    template: str = "p5-sft"
    output: Path | None = None  # None: adapters/<model>-<tasks>-<hash8>
    limit: int | None = None  # training examples per task
    epochs: float | None = None  # default (neither this nor max_steps): LLMRec's 10 epochs
    max_steps: int | None = None
    lr: float = 3e-4
    batch_size: int = 2
    grad_accum: int = 16
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    cutoff_len: int = 512
    val_size: int = 500
    seed: int = 2023
    candidates: int = 100  # ranking prompts: 1 target + 99 negatives, as in `llmrec bench`
    warmup_steps: int | None = None  # None: 100 steps (LLMRec), at most 10% of the run
    eval_steps: int = 200
    save_steps: int = 200
    save_total_limit: int = 3
    resume: bool = False
    load_in_4bit: bool = False
    data_dir: Path | None = None  # prepared-data cache (default: prepare_dataset's own)

    def settings(self) -> dict[str, Any]:
        """Everything that shapes the adapter (not where it goes, nor whether this call resumes)."""
        values = dataclasses.asdict(self)
        for key in ("output", "resume", "data_dir", "tasks"):
            values.pop(key)
        values["tasks"] = [t.name for t in self.tasks]
        values["target_modules"] = list(self.target_modules)
        return values


@dataclass(frozen=True)
class SFTExample:
    task: str
    sample_id: str
    prompt: str
    response: str  # the template's `answer`; the eos token is appended at tokenisation


# ---- options ---------------------------------------------------------------------------------------


def check_options(config: FinetuneConfig) -> None:
    """Option combinations the CLI cannot express by types alone."""
    if config.epochs is not None and config.max_steps is not None:
        raise LLMRecError("--epochs and --max-steps: give one of them, not both")
    if config.epochs is not None and config.epochs <= 0:
        raise LLMRecError(f"--epochs {config.epochs}: expected a positive number")
    if config.max_steps is not None and config.max_steps < 1:
        raise LLMRecError(f"--max-steps {config.max_steps}: expected a positive integer")
    if not config.target_modules or any(not m for m in config.target_modules):
        raise LLMRecError("--target-modules: expected comma-separated module names such as q_proj,v_proj")
    if not 0 <= config.lora_dropout < 1:
        raise LLMRecError(f"--lora-dropout {config.lora_dropout}: expected a value in [0, 1)")
    for name in ("lr", "batch_size", "grad_accum", "lora_r", "lora_alpha", "cutoff_len", "eval_steps",
                 "save_steps", "save_total_limit"):
        if getattr(config, name) <= 0:
            raise LLMRecError(f"--{name.replace('_', '-')} {getattr(config, name)}: expected a positive value")
    if config.val_size < 0:
        raise LLMRecError(f"--val-size {config.val_size}: expected 0 or more")


def parse_target_modules(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))


def load_sft_template(task: str, name: str):
    """The task's template; it must say how to write the answer (the response the model learns)."""
    import yaml

    from llmrec.prompts import load_template

    template = load_template(task, name)
    spec = yaml.safe_load(template.path.read_text(encoding="utf-8")) or {}
    if not isinstance(spec.get("answer"), str) or not spec["answer"].strip():
        raise LLMRecError(f"{template.path}: finetuning needs an 'answer' key (the response text, e.g. "
                          "'{{ reference }}'); use --template p5-sft or add one")
    return template


# ---- examples from the training split --------------------------------------------------------------


def training_pairs(task: Task, prepared) -> set[tuple[int, int]]:
    frame = getattr(prepared, FRAME_OF_KIND[task.kind])
    train = frame[frame["split"] == "train"]
    return set(zip(train["user"].astype(int).tolist(), train["item"].astype(int).tolist()))


def check_train_only(task: Task, prepared, samples: Sequence[Sample]) -> None:
    """Refuse samples whose (user, item) row, or whose history (ranking), is not in the training split."""
    pairs = training_pairs(task, prepared)
    for s in samples:
        rows = [(s.user, s.item)]
        if task.kind == "ranking":
            rows += [(s.user, int(i)) for i in s.variables.get("seen", ())]
        leaked = next((r for r in rows if r not in pairs), None)
        if leaked is not None:
            raise LLMRecError(f"{task.name} finetuning sample {s.sample_id}: (user {leaked[0]}, item {leaked[1]}) "
                              f"is not a training row of {prepared.name}; refusing to train on held-out data")


def training_samples(task: Task, prepared, need: int | None, seed: int) -> list[Sample]:
    """The task's samples from the training split (the first `need`, in the task's seeded order)."""
    return task.build(prepared, SampleOptions(split="train", seed=seed, limit=need))


def build_examples(tasks: Sequence[Task], prepared: dict[str, Any], templates: dict[str, Any],
                   limit: int | None, val_size: int, seed: int) -> tuple[list[SFTExample], list[SFTExample]]:
    """(training examples, validation examples), both from the training split only.

    Per task: the training samples (checked to be training rows); validation is a seeded random slice of
    `val_size` from all tasks' samples together; training takes the first `limit` of each task's remaining
    samples; the training mixture is shuffled with the seed.
    """
    import numpy as np

    pools: list[tuple[Task, Sample]] = []
    for task in tasks:
        need = None if limit is None else limit + val_size
        samples = training_samples(task, prepared[task.name], need, seed)
        check_train_only(task, prepared[task.name], samples)
        if not samples:
            raise LLMRecError(f"dataset {prepared[task.name].name} has no {task.name} samples in its training split")
        pools += [(task, s) for s in samples]
    if val_size >= len(pools):
        raise LLMRecError(f"--val-size {val_size}: the training split yields only {len(pools)} examples; "
                          "lower --val-size")
    rng = np.random.default_rng(seed)
    held_out = set(rng.choice(len(pools), size=val_size, replace=False).tolist()) if val_size else set()
    train: list[tuple[Task, Sample]] = []
    taken: dict[str, int] = {}
    for k, (task, sample) in enumerate(pools):
        if k in held_out or (limit is not None and taken.get(task.name, 0) >= limit):
            continue
        taken[task.name] = taken.get(task.name, 0) + 1
        train.append((task, sample))
    train = [train[k] for k in rng.permutation(len(train))]
    val = [pools[k] for k in sorted(held_out)]

    def render(task: Task, sample: Sample) -> SFTExample:
        template = templates[task.name]
        return SFTExample(task.name, sample.sample_id, template.render(sample.variables),
                          template.render_answer(sample.variables, sample.reference))

    return [render(*pair) for pair in train], [render(*pair) for pair in val]


# ---- tokenisation ----------------------------------------------------------------------------------


def encode_example(tokenizer, prompt: str, response: str, cutoff_len: int, chat: bool = False
                   ) -> tuple[dict[str, list[int]] | None, str]:
    """Token ids and labels of one example, and its status: "ok", "cut" or "dropped".

    The prompt is encoded exactly as the hf backend encodes it at inference (so the adapter sees the
    same tokens), the response on its own plus the eos token. Labels are IGNORE_INDEX on the prompt,
    so only the response is learned. Longer than `cutoff_len`: cut from the right; if no response
    token is left, the example is dropped.
    """
    from llmrec.backends.local import continuation_ids, encode_prompt

    if tokenizer.eos_token_id is None:
        raise LLMRecError("the tokenizer has no eos token: the model could not learn where an answer ends")
    prompt_ids, _ = encode_prompt(tokenizer, prompt, chat)
    response_ids = continuation_ids(tokenizer, response) + [tokenizer.eos_token_id]
    input_ids = prompt_ids + response_ids
    labels = [IGNORE_INDEX] * len(prompt_ids) + response_ids
    status = "ok"
    if len(input_ids) > cutoff_len:
        if len(prompt_ids) >= cutoff_len:
            return None, "dropped"
        input_ids, labels, status = input_ids[:cutoff_len], labels[:cutoff_len], "cut"
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels}, status


def encode_examples(tokenizer, examples: Sequence[SFTExample], cutoff_len: int, chat: dict[str, bool]
                    ) -> tuple[list[dict[str, list[int]]], dict[str, int]]:
    rows, counts = [], {"ok": 0, "cut": 0, "dropped": 0}
    for example in examples:
        row, status = encode_example(tokenizer, example.prompt, example.response, cutoff_len,
                                     chat.get(example.task, False))
        counts[status] += 1
        if row is not None:
            rows.append(row)
    return rows, counts


# ---- output folder ---------------------------------------------------------------------------------


def default_output(config: FinetuneConfig) -> Path:
    from llmrec.records import settings_hash

    slug = "".join(c if c.isalnum() or c in "-._" else "-" for c in config.model.strip("/").split("/")[-1])
    tasks = "+".join(t.name for t in config.tasks)
    return Path("adapters") / f"{slug}-{tasks}-{settings_hash(config.settings())[:8]}"


def _prepare_output(folder: Path, config: FinetuneConfig) -> str | None:
    """Check the folder against --resume; returns the checkpoint to resume from (or None)."""
    from llmrec.records import read_json, write_json

    checkpoints = sorted(folder.glob("checkpoint-*")) if folder.is_dir() else []
    settings_path = folder / SETTINGS_FILE
    if not config.resume:
        if checkpoints or (folder / MANIFEST).exists() or (folder / "adapter_config.json").exists():
            raise LLMRecError(f"{folder}: already holds a finetuning run; pass --resume to continue it, "
                              "or choose another --output")
    elif settings_path.exists():
        recorded, current = read_json(settings_path), config.settings()
        same = lambda k: json.dumps(recorded.get(k), default=str) == json.dumps(current.get(k), default=str)  # noqa: E731
        changed = sorted(k for k in set(recorded) | set(current) if not same(k))
        if changed:
            raise LLMRecError(f"{settings_path}: --resume with other settings ({', '.join(changed)}); "
                              "use the same options or another --output")
    folder.mkdir(parents=True, exist_ok=True)
    write_json(settings_path, config.settings())
    if not config.resume:
        return None
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(folder))
    if last is None:
        log(f"--resume: no checkpoint in {folder} yet; starting from the beginning")
    return last


# ---- model -----------------------------------------------------------------------------------------


def adapter_base_name(resolved) -> str:
    """What adapter_config.json records as the base model, matching `models.check_adapter_base`: the alias
    for the embedded model (its converted folder differs between machines), else what was loaded."""
    return resolved.name if resolved.kind == "embedded" else resolved.load_id


def precision() -> str:
    """bf16 where the GPU supports it, else fp16 on GPU; fp32 on CPU."""
    import torch

    if not torch.cuda.is_available():
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def load_base_model(resolved, load_in_4bit: bool):
    """Tokenizer and trainable base model for `resolved` (from `models.resolve_model`)."""
    import importlib.util

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {}
    mode = precision()
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[mode]
    if load_in_4bit:
        if not torch.cuda.is_available():
            raise LLMRecError("--load-in-4bit: QLoRA needs a CUDA GPU (bitsandbytes 4-bit kernels)")
        if importlib.util.find_spec("bitsandbytes") is None:
            raise LLMRecError("--load-in-4bit: needs bitsandbytes; run: pip install 'llmrec[qlora]'")
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype)
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", 0))}
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.load_id)
        model = AutoModelForCausalLM.from_pretrained(resolved.load_id, dtype=dtype, **kwargs)
    except Exception as exc:  # hub, network or format failures: one line
        first = (str(exc).strip().splitlines() or [""])[0]
        raise LLMRecError(f"--model {resolved.name}: cannot load '{resolved.load_id}': "
                          f"{type(exc).__name__}: {first}") from exc
    if load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    return tokenizer, model


def check_target_modules(model, targets: Sequence[str], model_name: str) -> None:
    """Every --target-modules name must be the last part of some module's name."""
    import torch

    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules() if name}
    unknown = [t for t in targets if t not in names]
    if unknown:
        linear = sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules()
                         if isinstance(m, torch.nn.Linear) and name})
        raise LLMRecError(f"--target-modules: {', '.join(unknown)} not found in {model_name}; "
                          f"its linear layers are: {', '.join(linear)}")


def add_lora(model, config: FinetuneConfig, base_name: str):
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(task_type="CAUSAL_LM", r=config.lora_r, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=list(config.target_modules), bias="none")
    model = get_peft_model(model, lora)
    # Checkpoints and the final adapter name the base model the way `llmrec bench` can check it.
    model.peft_config["default"].base_model_name_or_path = base_name
    return model


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


def loss_summary(log_history: list[dict]) -> dict[str, Any]:
    steps = [{"step": e["step"], "loss": e["loss"]} for e in log_history if "loss" in e and "step" in e]
    evals = [{"step": e["step"], "eval_loss": e["eval_loss"]} for e in log_history if "eval_loss" in e]
    losses = [e["loss"] for e in steps]

    def mean(values):
        return sum(values) / len(values) if values else None

    final = next((e for e in reversed(log_history) if "train_loss" in e), {})
    return {
        "first10_mean": mean(losses[:10]),
        "last10_mean": mean(losses[-10:]),
        "train_loss": final.get("train_loss"),
        "final_eval_loss": evals[-1]["eval_loss"] if evals else None,
        "train": steps,
        "eval": evals,
    }


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
    resume_from = _prepare_output(folder, config)

    from llmrec.data import prepare_dataset

    prepared, datasets = {}, {}
    for task in config.tasks:
        name = config.dataset or task.default_dataset
        kwargs = {"seed": config.seed, "negatives": config.candidates - 1}
        if config.data_dir:
            kwargs["cache_dir"] = config.data_dir
        prepared[task.name] = prepare_dataset(name, **kwargs)
        datasets[task.name] = {"name": name, "fingerprint": prepared[task.name].fingerprint}
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
    from llmrec.records import hardware, library_versions, write_json

    losses = loss_summary(trainer.state.log_history)
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
                     "resumed_from": resume_from},
        "losses": losses,
        "tokenizer_saved": tokenizer_changed,
        "library_versions": library_versions(),
        "hardware": hardware(),
        "wall_time_s": round(time.perf_counter() - started, 2),
    }
    write_json(folder / MANIFEST, manifest)
    first, last = losses["first10_mean"], losses["last10_mean"]
    log(f"done in {manifest['wall_time_s']:.0f}s: {trainer.state.global_step} steps, loss first-10 mean "
        f"{first:.4f} -> last-10 mean {last:.4f}"
        + (f", validation loss {losses['final_eval_loss']:.4f}" if losses["final_eval_loss"] is not None else ""))
    return folder, manifest
