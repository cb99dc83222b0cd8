"""A backend for any OpenAI-compatible HTTP server: OpenAI itself, `vllm serve`, llama.cpp's server.

Requests run concurrently (bounded by a semaphore) on the async SDK client, driven from the
synchronous Backend interface. The SDK's own retries are off: ours back off with full jitter,
honour Retry-After on 429/5xx, retry timeouts and dropped connections, and turn everything a
user can fix into one-line `LLMRecError`s. The API key is read from the environment only and is
scrubbed from every message this module produces.

Around the backend: openai_http.py (the POST, Retry-After, printable URLs, sync driving) and
openai_echo.py (reading likelihood scores out of echoed log-probabilities).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from typing import Any, Awaitable, Callable, Sequence, TypeVar

from llmrec.backends.openai_echo import Misaligned, echo_score
from llmrec.backends.openai_http import post, public_url, retry_after_seconds, run_sync, server_detail
from llmrec.errors import LLMRecError
from llmrec.types import GenerateRequest, Score, ScoreRequest, TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")

PLACEHOLDER_KEY = "EMPTY"  # servers without authentication still expect some bearer token
RETRYABLE_STATUS = {408, 409, 429}  # plus every 5xx
MAX_RETRY_AFTER = 300.0  # a server asking for longer than this is treated as asking for this
ENDPOINTS = ("chat", "completions")


class OpenAIBackend:
    """Backend on the OpenAI chat/completions API. See `llmrec.types.Backend` for the contract."""

    name = "openai"
    backoff_base = 0.5  # seconds; the n-th retry waits uniform(0, min(cap, base * 2**n))
    backoff_cap = 30.0

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 6,
        endpoint: str = "chat",
    ):
        if endpoint not in ENDPOINTS:
            raise LLMRecError(f"--endpoint: expected one of {', '.join(ENDPOINTS)}, got {endpoint!r}")
        if concurrency < 1:
            raise LLMRecError(f"--concurrency: expected a positive integer, got {concurrency}")
        if max_retries < 0:
            raise LLMRecError(f"--max-retries: expected 0 or more, got {max_retries}")
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.concurrency = concurrency
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.endpoint = endpoint
        self.tokens_in = 0  # running totals from the responses' `usage`
        self.tokens_out = 0
        self._usage_seen = False
        self._echo_checked = False  # see _check_echo
        self._api_key = os.environ.get("OPENAI_API_KEY") or ""
        if not self._api_key:
            if self.base_url is None:
                raise LLMRecError(
                    "OPENAI_API_KEY is not set: export it, or pass --base-url for a local server"
                )
            self._api_key = PLACEHOLDER_KEY
        self._where = public_url(self.base_url) if self.base_url else "https://api.openai.com/v1"

    # ---- Backend interface -------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerateRequest]) -> list[list[str]]:
        return run_sync(self._gather(self._generate_one, requests))

    def loglikelihood(self, requests: Sequence[ScoreRequest]) -> list[list[Score]]:
        # One HTTP request per (prompt, continuation) pair, regrouped per ScoreRequest afterwards.
        pairs = [(r.prompt, c) for r in requests for c in r.continuations]
        first = requests[0].prompt if requests else ""
        flat = run_sync(self._gather(self._score_one, pairs, before=lambda c: self._check_echo(c, first)))
        out, i = [], 0
        for r in requests:
            out.append(flat[i : i + len(r.continuations)])
            i += len(r.continuations)
        return out

    def prompt_tokens(self, prompt: str, chat: bool = True) -> int | None:
        return None  # the API offers no cheap tokenizer; the server reports overflow itself

    @property
    def context_length(self) -> int | None:
        return None

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "backend": self.name,
            "model": self.model,
            "base_url": self._where,
            "endpoint": self.endpoint,
            "concurrency": self.concurrency,
            "chat_template": "applied by the server" if self.endpoint == "chat" else "none",
            "loglikelihood_chat_template": False,  # scoring sends prompts as given (no template API)
        }
        if self._usage_seen:
            info["usage"] = {"prompt_tokens": self.tokens_in, "completion_tokens": self.tokens_out}
        return info

    # ---- one request each ----------------------------------------------------------------------

    async def _gather(
        self,
        one: Callable[[Any, Any], Awaitable[T]],
        items: Sequence[Any],
        before: Callable[[Any], Awaitable[None]] | None = None,
    ) -> list[T]:
        if not items:
            return []
        from openai import AsyncOpenAI, DefaultAioHttpClient

        # A fresh client per call: its connection pool belongs to the event loop that made it.
        # aiohttp as transport: at high concurrency httpx cost about 1 ms more CPU per request.
        async with AsyncOpenAI(
            api_key=self._api_key, base_url=self.base_url, timeout=self.timeout, max_retries=0,
            http_client=DefaultAioHttpClient(),
        ) as client:
            if before is not None:
                await before(client)
            gate = asyncio.Semaphore(self.concurrency)

            async def bounded(item: Any) -> T:
                async with gate:
                    return await one(client, item)

            return await asyncio.gather(*(bounded(x) for x in items))

    async def _generate_one(self, client: Any, req: GenerateRequest) -> list[str]:
        texts: list[str] = []
        # Some servers (llama.cpp) ignore `n` and answer one choice: ask again for the rest.
        for attempt in range(req.n):
            want = req.n - len(texts)
            seed = req.seed + attempt  # a new seed per top-up so sampled answers differ
            texts += await self._with_retries(lambda: self._create(client, req, want, seed))
            if len(texts) >= req.n:
                return texts[: req.n]
        raise LLMRecError(f"{self._where}: server returned fewer than n={req.n} choices")

    async def _create(self, client: Any, req: GenerateRequest, n: int, seed: int) -> list[str]:
        params: dict[str, Any] = {
            "model": self.model,
            "temperature": req.temperature,
            "top_p": req.top_p,
            "max_tokens": req.max_new_tokens,
            "n": n,
            "seed": seed,
        }
        if req.stop:
            params["stop"] = list(req.stop)
        if req.chat and self.endpoint == "chat":
            messages = [{"role": "user", "content": req.prompt}]
            resp = await post(client, "/chat/completions", {"messages": messages, **params})
            self._count(resp)
            choices = sorted(resp.choices, key=lambda c: c.index)
            return [c.message.content or "" for c in choices]
        resp = await post(client, "/completions", {"prompt": req.prompt, **params})
        self._count(resp)
        return [c.text or "" for c in sorted(resp.choices, key=lambda c: c.index)]

    async def _score_one(self, client: Any, pair: tuple[str, str]) -> Score:
        prompt, continuation = pair
        text = prompt + continuation
        # echo=True returns the prompt's own tokens with their log-probabilities. max_tokens=1, not 0:
        # llama.cpp reads 0 as "no limit" and vLLM refuses 0; the one generated token is dropped below.
        resp = await self._with_retries(
            lambda: post(client, "/completions", {"model": self.model, "prompt": text, "echo": True,
                                                  "logprobs": 1, "max_tokens": 1, "temperature": 0.0}),
            unsupported=self._no_echo_message,
        )
        self._count(resp)
        choice = resp.choices[0] if resp.choices else None
        lp = getattr(choice, "logprobs", None)
        tokens, offsets, values = (getattr(lp, k, None) for k in ("tokens", "text_offset", "token_logprobs"))
        if not (tokens and offsets and values) or not len(tokens) == len(offsets) == len(values):
            raise LLMRecError(self._no_echo_message(None))
        try:
            return echo_score(choice.text or "", tokens, offsets, values, prompt, continuation)
        except Misaligned as err:
            raise LLMRecError(self._misaligned_message(str(err))) from None

    async def _check_echo(self, client: Any, prompt: str) -> None:
        """Once per backend: the echoed log-probability of the token the server itself generates
        after `prompt` must match the one it reports when generating it. Some servers shift echoed
        log-probabilities by one token (llama-cpp-python, for models that add no BOS token)."""
        if self._echo_checked:
            return
        resp = await self._with_retries(
            lambda: post(client, "/completions", {"model": self.model, "prompt": prompt, "max_tokens": 1,
                                                  "logprobs": 1, "temperature": 0.0}),
            unsupported=self._no_echo_message,
        )
        self._count(resp)
        choice = resp.choices[0] if resp.choices else None
        lp = getattr(choice, "logprobs", None)
        values = getattr(lp, "token_logprobs", None)
        if choice and choice.text and values and values[0] is not None:
            echoed = await self._score_one(client, (prompt, choice.text))
            tolerance = max(0.1, 0.05 * abs(values[0]))
            if echoed.tokens == 1 and abs(echoed.logprob - values[0]) > tolerance:
                raise LLMRecError(
                    self._misaligned_message(
                        f"token {choice.text!r} scores {echoed.logprob:.2f} echoed but {values[0]:.2f} generated"
                    )
                )
        self._echo_checked = True

    def _no_echo_message(self, detail: str | None) -> str:
        msg = (
            f"{self._where}: likelihood scoring needs a server whose completions endpoint returns "
            "prompt log-probabilities (echo=True with logprobs), e.g. vLLM or llama.cpp's server"
        )
        return self._scrub(f"{msg} (server said: {detail})" if detail else msg)

    def _misaligned_message(self, detail: str) -> str:
        return self._scrub(
            f"{self._where}: likelihood scoring needs correct echo+logprobs, but the server's echoed "
            f"log-probabilities are shifted ({detail}); llama.cpp's server does this for models that "
            "add no BOS token unless the prompt starts with the BOS text"
        )

    def _count(self, resp: Any) -> None:
        usage = getattr(resp, "usage", None)
        if usage is not None:
            self._usage_seen = True
            self.tokens_in += usage.prompt_tokens or 0
            self.tokens_out += usage.completion_tokens or 0

    # ---- retries -------------------------------------------------------------------------------

    async def _with_retries(
        self,
        call: Callable[[], Awaitable[T]],
        unsupported: Callable[[str | None], str] | None = None,
    ) -> T:
        """Run `call`, retrying transient failures; `unsupported` words a 400 (a missing feature)."""
        for attempt in range(self.max_retries + 1):
            try:
                try:
                    return await call()
                except Exception as exc:  # noqa: BLE001 - classified right below
                    raise self._classify(exc, unsupported) from None
            except TransientError as err:
                if attempt == self.max_retries:
                    raise LLMRecError(f"gave up after {self.max_retries} retries: {err}") from None
                delay = self._delay(attempt, err.retry_after)
                log.warning("%s; retry %d/%d in %.1f s", err, attempt + 1, self.max_retries, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        jitter = random.uniform(0.0, min(self.backoff_cap, self.backoff_base * 2**attempt))
        if retry_after is None:
            return jitter
        return max(min(retry_after, MAX_RETRY_AFTER), jitter)  # never sooner than the server asked

    def _classify(self, exc: Exception, unsupported: Callable[[str | None], str] | None) -> Exception:
        """Map an SDK exception to TransientError (retry) or LLMRecError (stop, one line)."""
        import openai

        if isinstance(exc, LLMRecError):
            return exc
        if isinstance(exc, openai.APITimeoutError):
            # the aiohttp transport reports a refused connection as a connect timeout
            if type(exc.__cause__).__name__ == "ConnectTimeout":
                return TransientError(f"cannot connect to {self._where}")
            return TransientError(f"no answer from {self._where} within {self.timeout:g} s")
        if isinstance(exc, openai.APIConnectionError):
            return TransientError(f"cannot connect to {self._where}")
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = self._scrub(server_detail(exc))
            if unsupported is not None and status == 500 and "logprobs" in detail.lower():
                # llama.cpp started without logits_all answers 500 "logprobs is not supported"
                return LLMRecError(unsupported(detail))
            if status in RETRYABLE_STATUS or status >= 500:
                return TransientError(
                    f"HTTP {status} from {self._where}" + (f" ({detail})" if detail else ""),
                    retry_after=retry_after_seconds(exc.response.headers),
                )
            if status == 401:
                return LLMRecError(f"HTTP 401 from {self._where}: unauthorized; check OPENAI_API_KEY")
            if status == 403:
                return LLMRecError(f"HTTP 403 from {self._where}: forbidden; check OPENAI_API_KEY")
            if status == 404:
                return LLMRecError(
                    f"HTTP 404 from {self._where}: model {self.model!r} or the API path not found; "
                    "check --model and --base-url" + (f" ({detail})" if detail else "")
                )
            if unsupported is not None and status in (400, 422, 501):
                return LLMRecError(unsupported(detail or f"HTTP {status}"))
            return LLMRecError(f"HTTP {status} from {self._where}" + (f": {detail}" if detail else ""))
        if isinstance(exc, openai.APIResponseValidationError):
            return LLMRecError(f"{self._where}: response not in the OpenAI format")
        return exc  # a bug, not a server problem: let it surface as is

    def _scrub(self, text: str) -> str:
        if self._api_key and self._api_key != PLACEHOLDER_KEY:
            text = text.replace(self._api_key, "***")
        return text
