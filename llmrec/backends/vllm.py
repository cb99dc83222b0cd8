"""The vLLM backend (CUDA only), on vLLM's public API: LLM.generate, SamplingParams, LoRARequest.

The translation between llmrec requests and vLLM call arguments / outputs is kept in pure
functions below that never import vllm, so it can be checked without a GPU.

Token counts (`tokens_in`, `tokens_out`, running totals for the run record) are read from vLLM's
outputs, so they count every sequence vLLM was sent (its prefix cache may skip some of that work):
- generate: in, each request's prompt ids (`prompt_token_ids`); out, the generated ids of each
  of its n returns (`outputs[k].token_ids`), greedy ones included.
- loglikelihood: in, each prompt + continuation sequence in full, so a prompt counts once per
  continuation; out, nothing (the one token vLLM generates per sequence is thrown away).
"""

from __future__ import annotations

import importlib.util
from typing import Any, Mapping, Sequence

from llmrec.backends.local import LocalBackend, continuation_ids, load_failure, truncate_at_stop
from llmrec.backends.models import ResolvedModel
from llmrec.errors import LLMRecError
from llmrec.types import GenerateRequest, Score, ScoreRequest

VLLM_HINT = "pip install 'llmrec[vllm]' on a CUDA machine"
ADAPTER_NAME = "llmrec-adapter"


def require_vllm() -> None:
    if importlib.util.find_spec("vllm") is None:
        raise LLMRecError(f"--backend vllm: the vllm package is not installed; {VLLM_HINT}")


# ---- pure translation (no vllm import) ----

def sampling_kwargs(request: GenerateRequest) -> dict[str, Any]:
    """SamplingParams arguments for one generation request."""
    kwargs: dict[str, Any] = {
        "n": request.n,
        "max_tokens": request.max_new_tokens,
        "stop": list(request.stop),
        "temperature": request.temperature if request.temperature > 0 else 0.0,
        "top_p": request.top_p if request.temperature > 0 else 1.0,
    }
    if request.temperature > 0:
        kwargs["seed"] = request.seed  # per-request seed: results independent of batch neighbours
    return kwargs


def scoring_kwargs() -> dict[str, Any]:
    """SamplingParams for scoring: one throw-away token; log-prob of every prompt token."""
    return {"max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 1}


def lora_request_args(adapter: str | None) -> tuple[str, int, str] | None:
    """LoRARequest(name, id, path) arguments: one adapter per engine, id 1."""
    return (ADAPTER_NAME, 1, str(adapter)) if adapter else None


def engine_kwargs(model_path: str, *, tensor_parallel_size: int, adapter: str | None, seed: int,
                  dtype: str) -> dict[str, Any]:
    """vllm.LLM arguments."""
    if tensor_parallel_size < 1:
        raise LLMRecError(f"--tensor-parallel-size {tensor_parallel_size}: expected a positive integer")
    return {"model": model_path, "tensor_parallel_size": tensor_parallel_size, "enable_lora": bool(adapter),
            "seed": seed, "dtype": dtype}


def completions(request: GenerateRequest, output: Any) -> list[str]:
    """Texts of one vLLM RequestOutput (its `.outputs[k].text`), cut at stop strings like the hf backend."""
    return [truncate_at_stop(choice.text, request.stop) for choice in output.outputs][: request.n]


def token_counts(outputs: Sequence[Any]) -> tuple[int, int]:
    """(prompt tokens, generated tokens) of vLLM RequestOutputs."""
    prompt = sum(len(o.prompt_token_ids) for o in outputs)
    generated = sum(len(choice.token_ids) for o in outputs for choice in o.outputs)
    return prompt, generated


def _logprob_value(entry: Any) -> float:
    return float(entry.logprob if hasattr(entry, "logprob") else entry)


def continuation_score(prompt_logprobs: Sequence[Mapping[int, Any] | None], token_ids: Sequence[int],
                       prompt_length: int) -> Score:
    """Sum the log-probs vLLM reports for the continuation tokens (positions prompt_length..end).

    prompt_logprobs[k] maps token ids to Logprob objects for position k (None at position 0);
    the scored token is always among them.
    """
    total = 0.0
    for position in range(prompt_length, len(token_ids)):
        entries = prompt_logprobs[position]
        if entries is None or token_ids[position] not in entries:
            raise RuntimeError(f"vLLM returned no log-prob for prompt position {position}")
        total += _logprob_value(entries[token_ids[position]])
    return Score(total, len(token_ids) - prompt_length)


class VLLMBackend(LocalBackend):
    name = "vllm"

    def __init__(self, resolved: ResolvedModel, *, tensor_parallel_size: int = 1, dtype: str = "auto",
                 seed: int = 0):
        require_vllm()
        import vllm

        self.resolved = resolved
        self.seed = seed
        self.tensor_parallel_size = tensor_parallel_size
        adapter = str(resolved.adapter) if resolved.adapter else None
        try:
            self.llm = vllm.LLM(**engine_kwargs(resolved.load_id, tensor_parallel_size=tensor_parallel_size,
                                                adapter=adapter, seed=seed, dtype=dtype))
        except Exception as exc:  # engine start failures (memory, unsupported model) end the run in one line
            raise load_failure(resolved, exc, loader="vLLM") from exc
        self.tokenizer = self.llm.get_tokenizer()
        args = lora_request_args(adapter)
        if args:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest(*args)
        else:
            self.lora = None
        self._templated: set[bool] = set()
        self.tokens_in = 0  # running totals; the module docstring says what is counted
        self.tokens_out = 0

    @property
    def context_length(self) -> int | None:
        config = getattr(getattr(self.llm, "llm_engine", None), "model_config", None)
        return getattr(config, "max_model_len", None)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[list[str]]:
        from vllm import SamplingParams

        # Token ids, not text: vLLM would otherwise add a second BOS in front of a chat template.
        prompts = [{"prompt_token_ids": self._encode(r.prompt, r.chat)} for r in requests]
        params = [SamplingParams(**sampling_kwargs(r)) for r in requests]
        outputs = self.llm.generate(prompts, params, lora_request=self.lora, use_tqdm=False)
        tokens_in, tokens_out = token_counts(outputs)
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        return [completions(r, o) for r, o in zip(requests, outputs)]

    def loglikelihood(self, requests: Sequence[ScoreRequest]) -> list[list[Score]]:
        from vllm import SamplingParams

        flat: list[tuple[int, list[int], int]] = []  # (request index, prompt+continuation ids, prompt length)
        for index, request in enumerate(requests):
            prompt = self._encode(request.prompt, request.chat)
            for continuation in request.continuations:
                flat.append((index, prompt + continuation_ids(self.tokenizer, continuation), len(prompt)))
        scored = [k for k, (_, ids, n) in enumerate(flat) if len(ids) > n]
        outputs = self.llm.generate([{"prompt_token_ids": flat[k][1]} for k in scored],
                                    SamplingParams(**scoring_kwargs()), lora_request=self.lora, use_tqdm=False)
        self.tokens_in += token_counts(outputs)[0]
        by_flat = {k: continuation_score(o.prompt_logprobs, flat[k][1], flat[k][2]) for k, o in zip(scored, outputs)}
        results: list[list[Score]] = [[] for _ in requests]
        for k, (index, _, _) in enumerate(flat):
            results[index].append(by_flat.get(k, Score(0.0, 0)))
        return results

    def info(self) -> dict[str, Any]:
        import vllm

        config = getattr(getattr(self.llm, "llm_engine", None), "model_config", None)
        return {
            **self._model_record(),
            "model_id": self.resolved.load_id,
            "dtype": str(getattr(config, "dtype", "auto")).removeprefix("torch."),
            "device": "cuda",
            "tensor_parallel_size": self.tensor_parallel_size,
            "vllm_version": vllm.__version__,
        }
