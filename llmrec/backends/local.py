"""What the backends holding a model's weights in this process share (hf, vllm, and finetuning's base model).

Prompt encoding, the run record's description of the model, device and dtype choice, and one loader:
the one place that knows how this transformers version names the dtype argument and that turns any
load failure into one LLMRecError line.

torch and transformers are imported inside functions: the light helpers need neither.
"""

from __future__ import annotations

from typing import Any, Sequence

from llmrec.backends.models import ResolvedModel, adapter_sha256, model_weight_hash
from llmrec.errors import LLMRecError

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"
DTYPE_CHOICES = "auto, float32, bfloat16 or float16"
# transformers renamed from_pretrained's torch_dtype to dtype in this version.
DTYPE_RENAMED_IN = (4, 56)


# ---- prompts and continuations (no torch needed) ----

def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def encode_prompt(tokenizer: Any, prompt: str, chat: bool) -> tuple[list[int], bool]:
    """Token ids of a prompt and whether the chat template was applied.

    The template text already holds its special tokens, so it is tokenised without adding more;
    a plain prompt gets the tokenizer's usual specials (BOS for llama-style tokenizers).
    """
    if chat and has_chat_template(tokenizer):
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )
        return list(tokenizer(text, add_special_tokens=False)["input_ids"]), True
    return list(tokenizer(prompt, add_special_tokens=True)["input_ids"]), False


def continuation_ids(tokenizer: Any, continuation: str) -> list[int]:
    """A continuation is tokenised on its own, exactly as written (leading space included), no specials."""
    return list(tokenizer(continuation, add_special_tokens=False)["input_ids"]) if continuation else []


def truncate_at_stop(text: str, stops: Sequence[str]) -> str:
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return text if cut < 0 else text[:cut]


class LocalBackend:
    """What the backends holding the model in this process (hf, vllm) share: prompt encoding, and
    the run record's description of the model (weights, adapter, chat template)."""

    name: str
    resolved: ResolvedModel
    tokenizer: Any
    _templated: set[bool]  # whether each encoded prompt got the chat template
    _weight_hash: tuple[str | None, str | None] | None = None

    def _encode(self, prompt: str, chat: bool) -> list[int]:
        ids, applied = encode_prompt(self.tokenizer, prompt, chat)
        self._templated.add(applied)
        return ids

    def prompt_tokens(self, prompt: str, chat: bool = True) -> int | None:
        return len(encode_prompt(self.tokenizer, prompt, chat)[0])

    def _model_record(self, model: Any = None) -> dict[str, Any]:
        resolved = self.resolved
        if self._weight_hash is None:  # hashing a weights folder takes a while: once per backend
            self._weight_hash = model_weight_hash(resolved, model)
        applied = next(iter(self._templated)) if len(self._templated) == 1 else ("mixed" if self._templated else None)
        return {
            "backend": self.name,
            "model": resolved.name,
            "weight_hash": self._weight_hash[0],
            "weight_hash_kind": self._weight_hash[1],
            "adapter": str(resolved.adapter) if resolved.adapter else None,
            "adapter_sha256": adapter_sha256(resolved.adapter) if resolved.adapter else None,
            "chat_template_available": has_chat_template(self.tokenizer),
            "chat_template_applied": applied,
        }


# ---- device / dtype ----

def pick_device(device: str):
    """The torch device for --device: auto is CUDA when present, else CPU."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError as exc:
        raise LLMRecError(f"--device {device}: expected {DEVICE_CHOICES}") from exc
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise LLMRecError(f"--device {device}: CUDA is not available on this machine")
    return chosen


def pick_dtype(dtype: str, device=None):
    """The torch dtype for --dtype: auto is bf16 on a CUDA device that has it, else fp32."""
    import torch

    if dtype == "auto":
        if device is not None and device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
             "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
    if dtype not in names:
        raise LLMRecError(f"--dtype {dtype}: expected {DTYPE_CHOICES}")
    return names[dtype]


# ---- loading ----

def first_line(exc: BaseException) -> str:
    """'Type: first line of the message', for one-line errors about a library's failure."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def load_failure(resolved: ResolvedModel, exc: BaseException, loader: str = "transformers") -> LLMRecError:
    """The one line a failed model load ends the run with (hub, network, memory or format: any cause)."""
    source = " from the Hugging Face hub" if resolved.kind in ("hub", "alias") else ""
    return LLMRecError(f"--model {resolved.name}: {loader} cannot load '{resolved.load_id}'{source}: "
                       f"{first_line(exc)}")


def dtype_keyword() -> str:
    """from_pretrained's name for the dtype argument in the installed transformers."""
    import transformers

    major_minor = tuple(int(part) for part in transformers.__version__.split(".")[:2])
    return "dtype" if major_minor >= DTYPE_RENAMED_IN else "torch_dtype"


def load_model(resolved: ResolvedModel, dtype, **options: Any) -> tuple[Any, Any]:
    """Tokenizer and causal LM of `resolved`, weights in `dtype` (a torch dtype).

    `options` go to the model's from_pretrained as they are (device_map, quantization_config).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.load_id)
        model = AutoModelForCausalLM.from_pretrained(resolved.load_id, **{dtype_keyword(): dtype}, **options)
    except Exception as exc:  # hub/network/format failures of any kind end the run with one line
        raise load_failure(resolved, exc) from exc
    return tokenizer, model
