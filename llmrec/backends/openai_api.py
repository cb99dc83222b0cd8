"""A backend for any OpenAI-compatible HTTP server: OpenAI itself, `vllm serve`, llama.cpp's server.

Requests run concurrently (bounded by a semaphore) on one async SDK client and event loop per backend,
driven from the synchronous Backend interface, from several threads at once (the runner keeps one sample
per call in flight on each, so every answer is recorded as it arrives). The SDK's own retries are off: ours
back off with full jitter, honour Retry-After on 429/5xx, and retry timeouts, dropped connections and
malformed 200s. What retries cannot fix for one sample raises SampleFailed (the sample is recorded as failed
and the run goes on); everything a user must fix is one `LLMRecError` line, and it cancels the requests still
in flight, so no retry line follows it. Credentials come from OPENAI_API_KEY or the URL's user:password@ (sent
as basic auth) and are scrubbed from every message this module produces.

Around the backend: openai_http.py (the POST and its body check, Retry-After, URLs safe to print, the event
loop thread) and openai_echo.py (reading likelihood scores out of echoed log-probabilities).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import weakref
from typing import Any, Awaitable, Callable, Sequence, TypeVar

from llmrec.backends.openai_echo import Misaligned, echo_score
from llmrec.backends.openai_http import (BadBody, LoopThread, all_or_none, choice_text, choices, get, is_redacted,
                                         post, public_url, redact, retry_after_seconds, server_detail,
                                         url_credentials)
from llmrec.errors import LLMRecError, SampleFailed
from llmrec.types import GenerateRequest, Score, ScoreRequest, TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")

PLACEHOLDER_KEY = "EMPTY"  # servers without authentication still expect some bearer token
RETRYABLE_STATUS = {408, 409, 429}  # plus every 5xx
MAX_RETRY_AFTER = 300.0  # a server asking for longer than this is treated as asking for this
ENDPOINTS = ("chat", "completions")


class Unreachable(TransientError):
    """Nothing answers at the address: retried, and fatal once retries are spent (every sample would fail)."""


class NoAnswer(TransientError):
    """The request timed out (counted in the run's records)."""


def fatal(err: BaseException) -> bool:
    """Ends the run (and cancels the requests in flight), as opposed to failing one sample."""
    return not isinstance(err, SampleFailed)


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
        url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self._api_key = os.environ.get("OPENAI_API_KEY") or ""
        self.base_url, basic_auth = self._credentials(url)
        self.base_url, self._query = _split_query(self.base_url)  # the SDK appends paths after a query
        self.concurrency = concurrency
        self.parallel = concurrency  # samples the runner keeps in flight, one per call
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.endpoint = endpoint
        self.tokens_in = 0  # running totals from the responses' `usage`
        self.tokens_out = 0
        self.retries = 0  # running totals of retried requests and of timed-out ones
        self.timeouts = 0
        self._usage_seen = False
        self._echo_checked = False  # see _check_echo
        self._secrets = [x for x in (self._api_key, *self._url_secrets(url)) if x]
        if not self._api_key:
            if self.base_url is None:
                raise LLMRecError(
                    "OPENAI_API_KEY is not set: export it, or pass --base-url for a local server"
                )
            self._api_key = PLACEHOLDER_KEY
        self._headers = {"Authorization": basic_auth} if basic_auth else {}
        self._where = public_url(self.base_url) if self.base_url else "https://api.openai.com/v1"
        self._loop = LoopThread()
        self._gate = asyncio.Semaphore(concurrency)  # bound to the loop on first use
        self._echo_lock = asyncio.Lock()
        self._calls: dict[asyncio.Task, BaseException | None] = {}  # calls in flight -> why another stopped them
        weakref.finalize(self, self._loop.close)  # at exit, or when the backend is dropped

    def _credentials(self, url: str | None) -> tuple[str | None, str | None]:
        """The URL to send requests to and an Authorization header from its user:password@, if any."""
        if url is None:
            return None, None
        if is_redacted(url):
            raise LLMRecError(f"--base-url {redact(url)}: its credentials were masked when the run was recorded; "
                              "give the URL with them again (--base-url), or the key in OPENAI_API_KEY")
        bare, basic_auth = url_credentials(url)
        if basic_auth and self._api_key:
            raise LLMRecError(f"--base-url {redact(url)} carries user:password and OPENAI_API_KEY is set: both "
                              "would be the request's Authorization; give one of them")
        return bare, basic_auth

    @staticmethod
    def _url_secrets(url: str | None) -> list[str]:
        from urllib.parse import parse_qsl, unquote, urlsplit

        if not url:
            return []
        parts = urlsplit(url)
        found = [parts.username, parts.password] if parts.password is not None else [parts.username]
        found += [value for _, value in parse_qsl(parts.query)]
        return [unquote(x) for x in found if x and len(x) >= 4]  # a short value would scrub ordinary words

    # ---- Backend interface -------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerateRequest]) -> list[list[str]]:
        return self._run(self._generate_one, requests)

    def loglikelihood(self, requests: Sequence[ScoreRequest]) -> list[list[Score]]:
        # One HTTP request per (prompt, continuation) pair, regrouped per ScoreRequest afterwards.
        pairs = [(r.prompt, c) for r in requests for c in r.continuations]
        first = requests[0].prompt if requests else ""
        flat = self._run(self._score_one, pairs, before=lambda c: self._check_echo(c, first))
        out, i = [], 0
        for r in requests:
            out.append(flat[i : i + len(r.continuations)])
            i += len(r.continuations)
        return out

    def preflight(self) -> None:
        """One GET /models before any sample is asked: nothing listening, a silent server or a refused key
        fail here at once in one line, instead of after every retry of every request."""
        self._loop.run(self._preflight())

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

    def cancel(self) -> None:
        """Stop every call in flight (an interrupt): their threads return at once, nothing more is sent."""
        def cancel_all() -> None:
            for task in list(self._calls):
                task.cancel()

        self._loop.loop.call_soon_threadsafe(cancel_all)

    def request_counts(self) -> dict[str, int]:
        """Running totals of retried and timed-out requests (the runner records them per task)."""
        return {"retries": self.retries, "timeouts": self.timeouts}

    # ---- calls: one per synchronous call, many at once ----------------------------------------

    def _run(self, one: Callable[[Any, Any], Awaitable[T]], items: Sequence[Any],
             before: Callable[[Any], Awaitable[None]] | None = None) -> list[T]:
        if not items:
            return []
        return self._loop.run(self._call(one, items, before))

    async def _call(self, one: Callable[[Any, Any], Awaitable[T]], items: Sequence[Any],
                    before: Callable[[Any], Awaitable[None]] | None) -> list[T]:
        """One call's requests. A fatal error stops the other calls in flight as well: their requests are
        cancelled (not left to retry, and log, after the run has ended) and they raise the same error."""
        me = asyncio.current_task()
        self._calls[me] = None
        try:
            client = await self._client()
            if before is not None:
                await before(client)

            async def bounded(item: Any) -> T:
                async with self._gate:
                    return await one(client, item)

            return await all_or_none((bounded(x) for x in items), fatal)
        except asyncio.CancelledError:
            reason = self._calls.get(me)
            if reason is not None:
                raise LLMRecError(str(reason)) from None
            raise
        except Exception as err:
            if fatal(err):
                self._stop_others(me, err)
            raise
        finally:
            self._calls.pop(me, None)

    def _stop_others(self, me: asyncio.Task, err: BaseException) -> None:
        for task, reason in self._calls.items():
            if task is not me and reason is None and not task.done():
                self._calls[task] = err
                task.cancel()

    async def _client(self) -> Any:
        if self._loop.client is None:
            from openai import AsyncOpenAI, DefaultAioHttpClient

            # aiohttp as transport: at high concurrency httpx cost about 1 ms more CPU per request.
            self._loop.client = AsyncOpenAI(
                api_key=self._api_key, base_url=self.base_url, timeout=self.timeout, max_retries=0,
                default_headers=self._headers, default_query=self._query, http_client=DefaultAioHttpClient(),
            )
        return self._loop.client

    async def _preflight(self) -> None:
        client = await self._client()
        try:
            await get(client, "/models")
        except Exception as exc:  # noqa: BLE001 - classified right below
            err = self._classify(exc, None)
            if isinstance(err, Unreachable):
                raise LLMRecError(f"{err}: nothing answers there; check --base-url and that the server "
                                  "is running") from None
            if isinstance(err, NoAnswer):
                raise LLMRecError(f"{err} to GET /models; check the server, or allow more with "
                                  "--timeout") from None
            if isinstance(err, LLMRecError) and re.match(r"HTTP 40[13]\b", str(err)):
                raise err from None
            # Anything else (a gateway without /models, a busy server): the requests themselves will tell.
            if not isinstance(err, (TransientError, LLMRecError)):
                raise

    # ---- one request each ----------------------------------------------------------------------

    async def _generate_one(self, client: Any, req: GenerateRequest) -> list[str]:
        texts: list[str] = []
        # Some servers (llama.cpp) ignore `n` and answer one choice: ask again for the rest.
        for attempt in range(req.n):
            want = req.n - len(texts)
            seed = req.seed + attempt  # a new seed per top-up so sampled answers differ
            texts += await self._with_retries(lambda: self._create(client, req, want, seed))
            if len(texts) >= req.n:
                return texts[: req.n]
        raise SampleFailed(f"{self._where}: server returned fewer than n={req.n} choices")

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
            return [choice_text(c, "chat") for c in self._counted(resp, "chat")]
        resp = await post(client, "/completions", {"prompt": req.prompt, **params})
        return [choice_text(c, "text") for c in self._counted(resp, "text")]

    async def _completion(self, client: Any, body: dict[str, Any]) -> dict[str, Any]:
        """The first choice of a /completions request, its shape checked (a bad one is retried)."""
        resp = await post(client, "/completions", {"model": self.model, **body})
        return self._counted(resp, "text")[0]

    async def _score_one(self, client: Any, pair: tuple[str, str]) -> Score:
        prompt, continuation = pair
        text = prompt + continuation
        # echo=True returns the prompt's own tokens with their log-probabilities. max_tokens=1, not 0:
        # llama.cpp reads 0 as "no limit" and vLLM refuses 0; the one generated token is dropped below.
        choice = await self._with_retries(
            lambda: self._completion(client, {"prompt": text, "echo": True, "logprobs": 1, "max_tokens": 1,
                                              "temperature": 0.0}),
            unsupported=self._no_echo_message,
        )
        lp = choice.get("logprobs") if isinstance(choice.get("logprobs"), dict) else {}
        tokens, offsets, values = (lp.get(k) for k in ("tokens", "text_offset", "token_logprobs"))
        if not (isinstance(tokens, list) and isinstance(offsets, list) and isinstance(values, list)
                and tokens and len(tokens) == len(offsets) == len(values)):
            raise LLMRecError(self._no_echo_message(None))
        try:
            return echo_score(choice["text"], tokens, offsets, values, prompt, continuation)
        except Misaligned as err:
            raise LLMRecError(self._misaligned_message(str(err))) from None

    async def _check_echo(self, client: Any, prompt: str) -> None:
        """Once per backend: the echoed log-probability of a token the server generates after a prompt must
        match the one it reports when generating it. Some servers shift echoed log-probabilities by one token
        (llama-cpp-python, for models that add no BOS token). The token must not be empty (a model that ends
        right there proves nothing), so where it is, the check moves to a shorter prefix of the prompt."""
        async with self._echo_lock:  # calls on several threads: one probe, the others wait for its verdict
            if self._echo_checked:
                return
            for prefix in probe_prefixes(prompt):
                choice = await self._with_retries(
                    lambda: self._completion(client, {"prompt": prefix, "max_tokens": 1, "logprobs": 1,
                                                      "temperature": 0.0}),
                    unsupported=self._no_echo_message,
                )
                lp = choice.get("logprobs") if isinstance(choice.get("logprobs"), dict) else {}
                values, token = lp.get("token_logprobs") or [None], choice["text"]
                if not token or not isinstance(values[0], (int, float)):
                    continue  # the model ended here (llama.cpp then lists no log-probabilities at all)
                echoed = await self._score_one(client, (prefix, token))
                if echoed.tokens != 1:
                    continue  # the token merges with the prefix's end: another prefix
                if abs(echoed.logprob - values[0]) > max(0.1, 0.05 * abs(values[0])):
                    raise LLMRecError(self._misaligned_message(
                        f"token {token!r} scores {echoed.logprob:.2f} echoed but {values[0]:.2f} generated"))
                self._echo_checked = True
                return
            raise LLMRecError(self._no_echo_message("no prefix of the first prompt made the model generate a "
                                                    "token to check the echoed log-probabilities against"))

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

    def _counted(self, resp: dict[str, Any], kind: str) -> list[dict[str, Any]]:
        """The response's checked choices; its `usage` added to the running totals."""
        got = choices(resp, kind)
        usage = resp.get("usage")
        if isinstance(usage, dict):
            self._usage_seen = True
            self.tokens_in += _count(usage.get("prompt_tokens"))
            self.tokens_out += _count(usage.get("completion_tokens"))
        return got

    # ---- retries -------------------------------------------------------------------------------

    async def _with_retries(
        self,
        call: Callable[[], Awaitable[T]],
        unsupported: Callable[[str | None], str] | None = None,
    ) -> T:
        """Run `call`, retrying transient failures; `unsupported` words a 400 (a missing feature). Spent
        retries fail the sample (SampleFailed), or the run when nothing answers at the address."""
        for attempt in range(self.max_retries + 1):
            try:
                try:
                    return await call()
                except Exception as exc:  # noqa: BLE001 - classified right below
                    raise self._classify(exc, unsupported) from None
            except TransientError as err:
                self.timeouts += isinstance(err, NoAnswer)
                if attempt == self.max_retries:
                    spent = LLMRecError if isinstance(err, Unreachable) else SampleFailed
                    raise spent(f"gave up after {self.max_retries} retries: {err}") from None
                self.retries += 1
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
        if isinstance(exc, BadBody):
            return TransientError(self._scrub(f"malformed response from {self._where}: {exc}"))
        if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
            return self._connection_fault(exc)
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
        return exc  # a bug, not a server problem: let it surface as is

    def _connection_fault(self, exc: Exception) -> TransientError:
        """What went wrong on the wire, from the transport's exception under the SDK's: the aiohttp transport
        reports a refused connection, and one closed before any answer, as connect timeouts."""
        cause = exc.__cause__
        kind, text = type(cause).__name__, str(cause).lower()
        if "disconnected" in text:
            return TransientError(f"{self._where} closed the connection without answering")
        if "payload" in text or kind in ("ReadError", "RemoteProtocolError"):
            return TransientError(f"the connection to {self._where} dropped in the middle of the answer")
        if kind in ("ConnectTimeout", "ConnectError") or "cannot connect" in text:
            return Unreachable(f"cannot connect to {self._where}")
        if kind.endswith("Timeout") or exc.__class__.__name__ == "APITimeoutError":
            return NoAnswer(f"no answer from {self._where} within {self.timeout:g} s")
        return TransientError(f"connection to {self._where} failed ({kind})")

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret != PLACEHOLDER_KEY:
                text = text.replace(secret, "***")
        return redact(text)


def _split_query(url: str | None) -> tuple[str | None, dict[str, str]]:
    """A URL without its query, and the query's parameters (sent with every request: Azure's api-version)."""
    from urllib.parse import parse_qsl, urlsplit, urlunsplit

    if not url:
        return url, {}
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="")), dict(parse_qsl(parts.query))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def probe_prefixes(prompt: str) -> list[str]:
    """The prompt, then shorter prefixes cut mid-text (before its last word, at its middle), where a model
    rarely ends: the echo check needs a generated token that is not end-of-text."""
    text = prompt.rstrip()
    cuts = [text.rfind(" "), text.rfind(" ", 0, len(text) // 2)]
    return list(dict.fromkeys([prompt, *(text[:i] for i in cuts if i > 0)]))
