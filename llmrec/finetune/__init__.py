"""Supervised LoRA finetuning on prompts built from the training split (LLMRec's recipe).

Examples come only from training rows: every sample is checked against its task's training split
before anything is trained. A seeded slice of those examples is held out for the validation loss, so
the valid and test splits stay untouched for `llmrec bench`. Loss is computed on the response tokens
only. The output is a peft adapter folder with a manifest (`llmrec-adapter.json`) saying what the
adapter was trained on and how; `llmrec bench --adapter DIR` checks it against the base model.

The parts: config (options and their checks), examples (training samples, templates, tokenisation),
model (base model and LoRA), train (output folder, Trainer, manifest). torch, transformers and peft
are imported inside functions: the CLI imports this package lazily.
"""

from llmrec.finetune.config import (MANIFEST, MANIFEST_FORMAT, SETTINGS_FILE, FinetuneConfig, check_options,
                                    default_output, parse_target_modules)
from llmrec.finetune.examples import (IGNORE_INDEX, SFTExample, build_examples,
                                      encode_example, encode_examples, load_sft_template,
                                      training_samples)
from llmrec.finetune.model import adapter_base_name, add_lora, check_target_modules, load_base_model, precision
from llmrec.finetune.train import (bench_command, examples_seen, finetune, finished_run, loss_line, loss_summary,
                                   mean_window, training_arguments, warmup)

__all__ = [
    "IGNORE_INDEX", "MANIFEST", "MANIFEST_FORMAT", "SETTINGS_FILE", "FinetuneConfig", "SFTExample",
    "adapter_base_name", "add_lora", "bench_command", "build_examples", "check_options", "check_target_modules",
    "default_output", "encode_example", "encode_examples", "examples_seen", "finetune", "finished_run",
    "load_base_model", "load_sft_template", "loss_line", "loss_summary", "mean_window", "parse_target_modules",
    "precision", "training_arguments", "training_samples", "warmup",
]
