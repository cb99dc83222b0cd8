"""The OpenAI-compatible backend against a real llama.cpp server (SmolLM2), with injected faults."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time

import pytest
from llama_server import FaultProxy, fault_proxy, llama_server  # noqa: F401 - pytest fixtures

from llmrec.backends.openai_api import OpenAIBackend
from llmrec.backends.openai_echo import Misaligned, echo_score
from llmrec.backends.openai_http import public_url, retry_after_seconds
from llmrec.errors import LLMRecError
from llmrec.types import GenerateRequest, Score, ScoreRequest

pytestmark = pytest.mark.slow
FAKE_KEY = "sk-llmrec-test-7c1d9e0f-DO-NOT-PRINT"
CAPITAL = "What is the capital of France? Answer with one word."


@pytest.fixture(autouse=True)
def _no_real_credentials(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def backend(base_url: str, **kw) -> OpenAIBackend:
    return OpenAIBackend("smollm2", base_url=base_url, **kw)


def answers_by_prompt(proxy: FaultProxy) -> dict[str, str]:
    """What the real server answered to each prompt the proxy forwarded."""
    out = {}
    for s in proxy.seen:
        if s.status == 200:
            choice = json.loads(s.response)["choices"][0]
            key = s.body["messages"][0]["content"] if "messages" in s.body else s.body["prompt"]
            out[key] = choice["message"]["content"] if "message" in choice else choice["text"]
    return out


# ---- generation against the real server ---------------------------------------------------------


def test_chat_generation_is_greedy_and_passes_parameters(fault_proxy):
    b = backend(fault_proxy.base_url, concurrency=2)
    req = GenerateRequest(CAPITAL, max_new_tokens=8, stop=("\n\n",), seed=7)
    first, second = b.generate([req, req])
    assert len(first) == 1 and first[0].strip()
    assert "paris" in first[0].lower()
    assert first == second  # temperature 0: the same answer twice

    sent = fault_proxy.seen[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["messages"] == [{"role": "user", "content": CAPITAL}]
    assert (sent.body["temperature"], sent.body["top_p"], sent.body["max_tokens"]) == (0.0, 1.0, 8)
    assert sent.body["stop"] == ["\n\n"] and sent.body["seed"] == 7 and sent.body["n"] == 1
    assert b.tokens_in > 0 and 0 < b.tokens_out <= 16
    assert b.info()["usage"] == {"prompt_tokens": b.tokens_in, "completion_tokens": b.tokens_out}


def test_n_answers_per_request_even_when_the_server_returns_one(fault_proxy):
    # llama.cpp's server ignores `n`: the backend asks again until it has n answers.
    b = backend(fault_proxy.base_url)
    [texts] = b.generate([GenerateRequest(CAPITAL, max_new_tokens=6, n=3, temperature=0.8, seed=1)])
    assert len(texts) == 3 and all(t.strip() for t in texts)
    seeds = [s.body["seed"] for s in fault_proxy.seen]
    assert len(seeds) == len(set(seeds))  # each top-up samples with its own seed


def test_completions_endpoint_sends_the_raw_prompt_and_honours_stop(fault_proxy):
    prompt = "1, 2, 3, 4, 5,"
    for b, req in [
        (backend(fault_proxy.base_url), GenerateRequest(prompt, chat=False, max_new_tokens=12, stop=(",",))),
        (backend(fault_proxy.base_url, endpoint="completions"), GenerateRequest(prompt, max_new_tokens=12, stop=(",",))),
    ]:  # fmt: skip
        fault_proxy.reset()
        [[text]] = b.generate([req])
        assert text.strip() == "6"  # greedy counting, cut at the stop string
        assert fault_proxy.seen[0].path == "/v1/completions"
        assert fault_proxy.seen[0].body["prompt"] == prompt


def test_concurrency_is_bounded_and_order_preserved(fault_proxy):
    prompts = [f"Count from {i} to {i + 3}:" for i in range(16)]
    b = backend(fault_proxy.base_url, concurrency=4)
    results = b.generate([GenerateRequest(p, chat=False, max_new_tokens=4) for p in prompts])
    assert len(fault_proxy.seen) == 16
    assert fault_proxy.max_in_flight == 4  # all four slots used, never more
    served = answers_by_prompt(fault_proxy)
    assert [r[0] for r in results] == [served[p] for p in prompts]
    assert len({r[0] for r in results}) > 1  # distinct answers, so order is really checked


def test_generate_works_inside_a_running_event_loop(fault_proxy):
    b = backend(fault_proxy.base_url)

    async def notebook_cell():
        return b.generate([GenerateRequest(CAPITAL, max_new_tokens=4)])

    [[text]] = asyncio.run(notebook_cell())
    assert text.strip()


# ---- retries ------------------------------------------------------------------------------------


def test_429_waits_for_retry_after(fault_proxy):
    fault_proxy.inject("429")
    [[text]] = backend(fault_proxy.base_url).generate([GenerateRequest(CAPITAL, max_new_tokens=4)])
    assert text.strip()
    rejected, accepted = fault_proxy.seen
    assert (rejected.status, accepted.status) == (429, 200)
    assert accepted.arrived - rejected.answered >= 0.95  # Retry-After: 1


def test_500_is_retried(fault_proxy):
    fault_proxy.inject("500", 2)
    [[text]] = backend(fault_proxy.base_url).generate([GenerateRequest(CAPITAL, max_new_tokens=4)])
    assert text.strip()
    assert [s.status for s in fault_proxy.seen] == [500, 500, 200]


def test_stalled_request_times_out_and_is_retried(fault_proxy):
    fault_proxy.inject("stall")
    b = backend(fault_proxy.base_url, timeout=3.0)  # generous: a busy CI machine answers slowly
    [[text]] = b.generate([GenerateRequest(CAPITAL, max_new_tokens=1)])
    assert text.strip()
    stalled, answered = fault_proxy.seen[:2]
    assert stalled.status is None and answered.status == 200
    assert answered.arrived - stalled.arrived >= 3.0


def test_gives_up_after_max_retries_with_one_line(fault_proxy):
    fault_proxy.inject("500", 3)
    b = backend(fault_proxy.base_url, max_retries=2)
    with pytest.raises(LLMRecError, match=r"gave up after 2 retries: HTTP 500") as err:
        b.generate([GenerateRequest(CAPITAL, max_new_tokens=4)])
    assert "\n" not in str(err.value)
    assert len(fault_proxy.seen) == 3


@pytest.mark.parametrize(
    "fault, message",
    [("401", "check OPENAI_API_KEY"), ("400", "HTTP 400"), ("404", "check --model and --base-url")],
)
def test_client_errors_stop_at_once(fault_proxy, fault, message):
    fault_proxy.inject(fault)
    with pytest.raises(LLMRecError, match=message) as err:
        backend(fault_proxy.base_url).generate([GenerateRequest(CAPITAL, max_new_tokens=4)])
    assert "\n" not in str(err.value)
    assert len(fault_proxy.seen) == 1


def test_unknown_path_on_the_real_server_is_a_404(llama_server):
    wrong = llama_server.base_url.replace("/v1", "/nope")
    with pytest.raises(LLMRecError, match="HTTP 404"):
        backend(wrong).generate([GenerateRequest(CAPITAL, max_new_tokens=4)])


def test_connection_refused_is_retried_then_reported():
    from llama_server import free_port

    b = backend(f"http://127.0.0.1:{free_port()}/v1", max_retries=1)
    with pytest.raises(LLMRecError, match="gave up after 1 retries: cannot connect"):
        b.generate([GenerateRequest(CAPITAL)])


# ---- secrets ------------------------------------------------------------------------------------


def test_api_key_never_appears_in_messages_logs_or_info(fault_proxy, monkeypatch, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    caplog.set_level(logging.DEBUG)
    b = backend(fault_proxy.base_url, max_retries=1, timeout=1.0)
    messages = []
    for faults in (["401"], ["400"], ["404"], ["500", "500"], ["429", "429"], ["stall", "stall"]):
        for f in faults:
            fault_proxy.inject(f)
        with pytest.raises(LLMRecError) as err:
            b.generate([GenerateRequest(CAPITAL, max_new_tokens=4)])
        messages.append(str(err.value))
    # The key really was sent, and the server really echoed it back in its error bodies.
    assert all(s.headers.get("authorization") == f"Bearer {FAKE_KEY}" for s in fault_proxy.seen)
    assert any(FAKE_KEY.encode() in s.response for s in fault_proxy.seen)
    assert "check OPENAI_API_KEY" in messages[0]
    b.timeout = 60.0  # the stall cases are over; let a busy server answer
    b.generate([GenerateRequest(CAPITAL, max_new_tokens=4)])
    assert "usage" in b.info()
    everything = messages + [r.getMessage() for r in caplog.records] + [repr(b.info())]
    assert caplog.records and not [m for m in everything if FAKE_KEY in m]


def test_info_hides_credentials_in_the_base_url():
    b = backend("http://user:hunter2@127.0.0.1:8000/v1/?api-key=zzz")
    assert b.info()["base_url"] == "http://127.0.0.1:8000/v1"
    assert public_url("https://[::1]:9/v1") == "https://[::1]:9/v1"


def test_load_backend_passes_timeout_and_retries_to_the_api_backend():
    from llmrec.backends import load_backend

    chosen = load_backend("smollm2", base_url="http://127.0.0.1:9/v1", timeout=2.5, max_retries=1, concurrency=3,
                          endpoint="completions")
    assert isinstance(chosen, OpenAIBackend)
    assert (chosen.timeout, chosen.max_retries, chosen.concurrency, chosen.endpoint) == (2.5, 1, 3, "completions")
    defaults = load_backend("smollm2", base_url="http://127.0.0.1:9/v1")
    assert (defaults.timeout, defaults.max_retries) == (60.0, 6)
    with pytest.raises(LLMRecError, match=r"^--max-retries: expected 0 or more, got -1$"):
        load_backend("smollm2", base_url="http://127.0.0.1:9/v1", max_retries=-1)


def test_timeout_from_load_backend_bounds_a_stalled_request(fault_proxy):
    from llmrec.backends import load_backend

    fault_proxy.inject("stall")
    chosen = load_backend("smollm2", base_url=fault_proxy.base_url, timeout=0.5, max_retries=0)
    with pytest.raises(LLMRecError, match=r"gave up after 0 retries: no answer from .* within 0\.5 s"):
        chosen.generate([GenerateRequest(CAPITAL, max_new_tokens=4)])


def test_key_and_base_url_from_the_environment(monkeypatch):
    with pytest.raises(LLMRecError, match="OPENAI_API_KEY is not set"):
        OpenAIBackend("gpt-4o-mini")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1234/v1")
    assert OpenAIBackend("m").info()["base_url"] == "http://127.0.0.1:1234/v1"  # local: placeholder key
    with pytest.raises(LLMRecError, match="--endpoint"):
        OpenAIBackend("m", endpoint="responses")


# ---- likelihood scoring -------------------------------------------------------------------------


def test_loglikelihood_ranks_the_right_continuation_first(fault_proxy):
    # SmolLM2 adds no BOS token; llama.cpp's echo is only aligned when the prompt starts with it,
    # as every prompt rendered with SmolLM2's chat template does.
    b = backend(fault_proxy.base_url, concurrency=2)
    reqs = [
        ScoreRequest("<|im_start|>The capital of France is", (" Paris", " a banana sandwich")),
        ScoreRequest("<|im_start|>1, 2, 3,", (" 4", " 97")),
    ]
    scores = b.loglikelihood(reqs)
    assert [len(s) for s in scores] == [2, 2]
    (paris, banana), (four, ninety_seven) = scores
    assert paris.logprob > banana.logprob + 5 and four.logprob > ninety_seven.logprob
    assert all(s.logprob < 0 and s.tokens >= 1 for row in scores for s in row)
    assert banana.tokens > paris.tokens
    scored = [s for s in fault_proxy.seen if s.body.get("echo")]
    assert len(scored) == 1 + 4 and all(s.body["logprobs"] == 1 for s in scored)  # 1 alignment probe


def test_loglikelihood_refuses_shifted_echo_logprobs(fault_proxy):
    # Without the BOS text, llama.cpp's server shifts echoed log-probabilities by one token:
    # the backend must say so rather than return wrong scores.
    b = backend(fault_proxy.base_url)
    with pytest.raises(LLMRecError, match="echo.logprobs.*shifted") as err:
        b.loglikelihood([ScoreRequest("The capital of France is", (" Paris", " a banana"))])
    assert "\n" not in str(err.value)


def test_echo_score_finds_the_continuation_by_text_offsets():
    # "The cat sat" + one generated "." : tokens "The"@0, " cat"@3, " s"@7, "at"@9, "."@11.
    tokens, offsets, values = ["The", " cat", " s", "at", "."], [0, 3, 7, 9, 11], [None, -1.0, -2.0, -0.5, -9.0]
    assert echo_score("The cat sat.", tokens, offsets, values, "The cat", " sat") == Score(-2.5, 2)
    # Prompt "The c": the token straddling the boundary carries continuation text, so it counts.
    assert echo_score("The cat sat.", tokens, offsets, values, "The c", "at sat").tokens == 3
    # Offsets that leave out a leading special token are re-anchored.
    assert echo_score("<s>The cat sat.", tokens, offsets, values, "<s>The cat", " sat").logprob == -2.5
    with pytest.raises(Misaligned, match="generated token is missing"):
        echo_score("The cat sat.", tokens[:-1], offsets[:-1], values[:-1], "The cat", " sat")
    with pytest.raises(LLMRecError, match="prompt is empty"):
        echo_score("The cat sat.", tokens, offsets, values, "", "The cat sat")


def test_retry_after_parsing():
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= retry_after_seconds({"retry-after": later}) <= 31
    assert retry_after_seconds({"retry-after": "soon"}) is None and retry_after_seconds({}) is None
