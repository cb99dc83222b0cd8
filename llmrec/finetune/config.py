"""What a finetuning run is asked to do: its options, their checks, and where its adapter goes by default."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmrec.data.protocols import DEFAULT_KCORE, DEFAULT_SPLITS
from llmrec.errors import LLMRecError
from llmrec.tasks import Task

MANIFEST = "llmrec-adapter.json"
SETTINGS_FILE = "llmrec-finetune-settings.json"  # written before training; --resume compares against it
MANIFEST_FORMAT = 1


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
    kcore: int = DEFAULT_KCORE  # as `llmrec bench --kcore`
    splits: str = DEFAULT_SPLITS  # the split protocol, as `llmrec bench --splits`
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
        for key, default in (("kcore", DEFAULT_KCORE), ("splits", DEFAULT_SPLITS)):
            if values[key] == default:  # adapters trained before these options existed keep their settings hash
                values.pop(key)
        return values

    def split_settings(self) -> dict[str, Any]:
        """What decides which rows of a dataset are training rows: a bench that prepares the data otherwise
        may test on rows this adapter trained on."""
        return {"seed": self.seed, "kcore": self.kcore, "splits": self.splits}


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


def default_output(config: FinetuneConfig) -> Path:
    from llmrec.records import settings_hash

    slug = "".join(c if c.isalnum() or c in "-._" else "-" for c in config.model.strip("/").split("/")[-1])
    tasks = "+".join(t.name for t in config.tasks)
    return Path("adapters") / f"{slug}-{tasks}-{settings_hash(config.settings())[:8]}"
