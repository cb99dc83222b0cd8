"""The vLLM backend's request translation only: vllm itself needs CUDA and is not installed here.

These tests check the pure functions that turn llmrec requests into vLLM call arguments and vLLM
outputs into llmrec results, with stand-ins shaped like vLLM's RequestOutput / Logprob objects,
and that asking for vLLM without it fails with one clear line.
"""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest

from llmrec.backends import choose_backend, load_backend
from llmrec.backends.vllm import (
    ADAPTER_NAME,
    completions,
    continuation_score,
    engine_kwargs,
    lora_request_args,
    sampling_kwargs,
    scoring_kwargs,
    token_counts,
)
from llmrec.errors import LLMRecError
from llmrec.types import GenerateRequest, Score

needs_no_vllm = pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")


@needs_no_vllm
def test_missing_vllm_is_one_line_with_the_install_hint():
    with pytest.raises(LLMRecError) as caught:
        load_backend("smollm2", backend="vllm")
    message = str(caught.value)
    assert "pip install 'llmrec[vllm]' on a CUDA machine" in message and "\n" not in message
    assert choose_backend("smollm2") == "hf"  # auto never picks a vllm that is not there


def test_translation_greedy_request_to_sampling_params():
    request = GenerateRequest("p", max_new_tokens=32, stop=("\n", "###"), seed=5)
    assert sampling_kwargs(request) == {"n": 1, "max_tokens": 32, "stop": ["\n", "###"],
                                        "temperature": 0.0, "top_p": 1.0}


def test_translation_sampled_request_carries_its_seed():
    request = GenerateRequest("p", max_new_tokens=8, temperature=0.7, top_p=0.9, n=10, seed=2023)
    kwargs = sampling_kwargs(request)
    assert kwargs == {"n": 10, "max_tokens": 8, "stop": [], "temperature": 0.7, "top_p": 0.9, "seed": 2023}


def test_translation_engine_and_adapter_arguments():
    plain = engine_kwargs("/models/m", tensor_parallel_size=2, adapter=None, seed=3, dtype="auto")
    assert plain == {"model": "/models/m", "tensor_parallel_size": 2, "enable_lora": False, "seed": 3,
                     "dtype": "auto"}
    assert engine_kwargs("m", tensor_parallel_size=1, adapter="/a", seed=0, dtype="bfloat16")["enable_lora"]
    assert lora_request_args("/adapters/beauty") == (ADAPTER_NAME, 1, "/adapters/beauty")
    assert lora_request_args(None) is None
    with pytest.raises(LLMRecError, match="tensor-parallel-size"):
        engine_kwargs("m", tensor_parallel_size=0, adapter=None, seed=0, dtype="auto")


def test_translation_outputs_to_completions():
    output = SimpleNamespace(outputs=[SimpleNamespace(text="[1, 2, 3]"), SimpleNamespace(text="4 stars\n###x")])
    assert completions(GenerateRequest("p", n=2, stop=("###",)), output) == ["[1, 2, 3]", "4 stars\n"]


def test_token_counts_of_request_outputs():
    outputs = [SimpleNamespace(prompt_token_ids=[1, 2, 3], outputs=[SimpleNamespace(token_ids=[7, 8]),
                                                                   SimpleNamespace(token_ids=[9])]),
               SimpleNamespace(prompt_token_ids=[4, 5], outputs=[SimpleNamespace(token_ids=[6, 6, 2])])]
    assert token_counts(outputs) == (5, 6)
    assert token_counts([]) == (0, 0)


def test_translation_prompt_logprobs_to_score():
    logprob = lambda v: SimpleNamespace(logprob=v)  # noqa: E731 - shaped like vllm.sequence.Logprob
    token_ids = [11, 12, 13, 14, 15]
    # Position 0 has no log-prob; each later position lists the actual token (and maybe a top-1 other).
    prompt_logprobs = [None, {12: logprob(-0.5)}, {13: logprob(-1.0), 99: logprob(-0.1)},
                       {14: logprob(-2.0)}, {15: logprob(-0.25), 7: logprob(-0.2)}]
    # Prompt = first 3 tokens: the continuation is tokens 14, 15.
    assert continuation_score(prompt_logprobs, token_ids, 3) == Score(-2.25, 2)
    assert continuation_score(prompt_logprobs, token_ids, 5) == Score(0.0, 0)
    plain_floats = [None, {12: -0.5}, {13: -1.0}, {14: -2.0}, {15: -0.25}]
    assert continuation_score(plain_floats, token_ids, 1).logprob == pytest.approx(-3.75)
    with pytest.raises(RuntimeError, match="position 3"):
        continuation_score([None, None, {13: logprob(0.0)}, {99: logprob(0.0)}, None], token_ids, 3)
    assert scoring_kwargs() == {"max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 1}
