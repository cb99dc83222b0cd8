"""Pick and build an LLM backend for a `--model` string.

Backends are imported only when chosen, so importing this package costs nothing heavy.
"""

from __future__ import annotations

import importlib.util

from llmrec.backends.models import is_api_alias, registry, resolve_model
from llmrec.errors import LLMRecError
from llmrec.registry import Registry
from llmrec.types import Backend



def list_models() -> list[dict]:
    """Registry rows for `llmrec models`: alias, backend, id, description."""
    return [
        {"alias": alias, "backend": row["backend"], "id": row["id"], "description": row["description"]}
        for alias, row in registry().items()
    ]


def vllm_usable() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def choose_backend(model: str, backend: str = "auto", base_url: str | None = None) -> str:
    """auto: openai for API aliases or a base_url; vllm when installed and CUDA is present; else hf."""
    if backend not in CHOICES:
        raise LLMRecError(f"--backend {backend}: expected one of {', '.join(CHOICES)}")
    if backend != "auto":
        return backend
    if base_url or is_api_alias(model):
        return "openai"
    return "vllm" if vllm_usable() else "hf"


def weights_identity(model: str, *, backend: str = "auto", adapter: str | None = None,
                     base_url: str | None = None) -> dict:
    """What identifies a model's weights before it is loaded: the embedded GGUF's or a local folder's
    sha256, the adapter's sha256. Hub models are named here; the revision they load is recorded and checked
    on resume. API models are known by name only (their weights are the provider's)."""
    from llmrec.backends.models import adapter_sha256, model_weight_hash

    if choose_backend(model, backend, base_url) == "openai":
        return {"api_model": model, "weights": "not knowable (served by an API)"}
    resolved = resolve_model(model, adapter)
    digest, kind = model_weight_hash(resolved) if resolved.kind in ("embedded", "folder") else (None, "hub-name")
    return {"weight_hash": digest, "weight_hash_kind": kind, "adapter_sha256": adapter_sha256(resolved.adapter) if resolved.adapter else None}


def _openai(model, adapter, base_url, o):
    if adapter:
        raise LLMRecError(f"--adapter {adapter}: adapters need local weights (--backend hf or vllm)")
    from llmrec.backends.openai_api import OpenAIBackend

    # API aliases name the provider's model; anything else is passed as written (the server's name).
    name = registry()[model]["id"] if is_api_alias(model) else model
    return OpenAIBackend(name, base_url=base_url, concurrency=o["concurrency"], endpoint=o["endpoint"],
                         timeout=o["timeout"], max_retries=o["max_retries"])


def _vllm(model, adapter, base_url, o):
    from llmrec.backends.vllm import VLLMBackend, require_vllm

    require_vllm()  # before resolving: resolving may convert weights
    return VLLMBackend(resolve_model(model, adapter), tensor_parallel_size=o["tensor_parallel_size"],
                       dtype=o["dtype"], seed=o["seed"])


def _hf(model, adapter, base_url, o):
    from llmrec.backends.hf import HFBackend

    return HFBackend(resolve_model(model, adapter), batch_size=o["batch_size"], device=o["device"], dtype=o["dtype"],
                     seed=o["seed"])


BACKENDS: Registry = Registry("backend")
BACKENDS.add("hf", _hf, "transformers on CPU or CUDA: batched greedy generation, packed likelihood scoring",
             {"batch_size": "auto", "device": "auto", "dtype": "auto"})
BACKENDS.add("vllm", _vllm, "vLLM on CUDA (pip install 'llmrec[vllm]')", {"tensor_parallel_size": "1", "dtype": "auto"})
BACKENDS.add("openai", _openai, "any OpenAI-compatible API (OpenAI, vllm serve, llama.cpp, Ollama)",
             {"base_url": "OPENAI_BASE_URL", "concurrency": "8", "timeout": "60", "max_retries": "6"})
CHOICES = ("auto", *BACKENDS.names())  # --backend: a registered backend, or auto (see choose_backend)


def load_backend(model: str, *, backend: str = "auto", adapter: str | None = None,
                 base_url: str | None = None, batch_size: int | str = "auto", device: str = "auto",
                 dtype: str = "auto", concurrency: int = 8, tensor_parallel_size: int = 1,
                 endpoint: str = "chat", seed: int = 0, timeout: float = 60.0, max_retries: int = 6) -> Backend:
    chosen = choose_backend(model, backend, base_url)
    if base_url and chosen != "openai":
        from llmrec.backends.openai_http import redact

        raise LLMRecError(f"--base-url {redact(base_url)}: only the openai backend talks to a server")
    options = {"batch_size": batch_size, "device": device, "dtype": dtype, "concurrency": concurrency,
               "tensor_parallel_size": tensor_parallel_size, "endpoint": endpoint, "seed": seed, "timeout": timeout,
               "max_retries": max_retries}
    return BACKENDS.get(chosen)(model, adapter, base_url, options)
