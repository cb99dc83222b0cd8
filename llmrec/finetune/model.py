"""The model side of finetuning: the base model in training precision (optionally 4-bit), and its LoRA adapter.

torch, transformers and peft are imported inside functions.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from llmrec.errors import LLMRecError
from llmrec.finetune.config import FinetuneConfig


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

    from llmrec.backends.local import load_model, pick_dtype

    options: dict[str, Any] = {}
    dtype = pick_dtype(precision())
    if load_in_4bit:
        if not torch.cuda.is_available():
            raise LLMRecError("--load-in-4bit: QLoRA needs a CUDA GPU (bitsandbytes 4-bit kernels)")
        if importlib.util.find_spec("bitsandbytes") is None:
            raise LLMRecError("--load-in-4bit: needs bitsandbytes; run: pip install 'llmrec[qlora]'")
        from transformers import BitsAndBytesConfig

        options["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype)
        options["device_map"] = {"": int(os.environ.get("LOCAL_RANK", 0))}
    tokenizer, model = load_model(resolved, dtype, **options)
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
