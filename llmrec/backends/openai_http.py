"""HTTP plumbing of the OpenAI backend, apart from its retry policy: a lean POST whose body is checked, reading
Retry-After and server error details, URLs safe to print or record, and one event loop serving every thread."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import re
import threading
import time
from typing import Any, Awaitable, Callable, Iterable, TypeVar
from urllib.parse import unquote, urlsplit

T = TypeVar("T")
REDACTED = "***"


class BadBody(Exception):
    """A 200 whose body is not the JSON the API defines (retried: a proxy or an overloaded server sent it)."""


async def post(client: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST a plain-JSON body and return the response's JSON object. Unlike `client.*.create`, this skips the
    SDK's per-call parameter transform and response model (about 1 ms of CPU a request: the bound on
    throughput at high concurrency, benchmarks/run.py api); the SDK's models also accept any shape unchecked."""
    return json_object(await client.post(path, body=body, cast_to=bytes))


async def get(client: Any, path: str) -> dict[str, Any]:
    return json_object(await client.get(path, cast_to=bytes))


def json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadBody("a 200 whose body is not JSON" + (f": {preview(raw)}" if raw.strip() else " (empty)")) from None
    if not isinstance(data, dict):
        raise BadBody(f"a 200 whose JSON is a {type(data).__name__}, not an object")
    return data


def preview(raw: bytes, limit: int = 60) -> str:
    text = re.sub(r"\s+", " ", raw.decode("utf-8", "replace")).strip()
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def choices(resp: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The response's choices in index order, each with a text (`kind` "chat": message.content, else `text`);
    any other shape is a BadBody. The one check of a response's shape."""
    got = resp.get("choices")
    if not isinstance(got, list) or not got:
        raise BadBody("a 200 with no choices")
    if any(_text(c, kind) is None for c in got):
        raise BadBody(f"a 200 whose choices hold no {'message content' if kind == 'chat' else 'text'}")
    return sorted(got, key=lambda c: c["index"] if isinstance(c.get("index"), int) else 0)


def choice_text(choice: dict[str, Any], kind: str) -> str:
    """The text of a choice that `choices` passed."""
    return _text(choice, kind) or ""


def _text(choice: Any, kind: str) -> str | None:
    """A choice's text ("" for a chat message without content), None when it has none."""
    if not isinstance(choice, dict):
        return None
    if kind != "chat":
        return choice["text"] if isinstance(choice.get("text"), str) else None
    message = choice.get("message")
    content = message.get("content") if isinstance(message, dict) else 0
    return "" if content is None else content if isinstance(content, str) else None


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def server_detail(exc: Any) -> str:
    """The server's error message, flattened to one short line."""
    body = getattr(exc, "body", None)
    msg = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        msg = inner.get("message") if isinstance(inner, dict) else inner
        msg = msg or body.get("detail")
    if not msg:
        msg = getattr(exc, "message", "") or ""
    msg = re.sub(r"\s+", " ", str(msg)).strip()
    return msg[:200] + ("..." if len(msg) > 200 else "")


# ---- credentials in URLs -----------------------------------------------------------------------------

URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
USERINFO = re.compile(r"^(?P<scheme>[^:]+://)(?P<userinfo>[^/?#]*)@")
QUERY_VALUE = re.compile(r"(?P<name>[?&][^=&#]*=)[^&#]*")


def public_url(url: str) -> str:
    """scheme://host[:port]/path: no user:password, no query (some gateways put keys there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}"


def redact(text: str) -> str:
    """`text` with the secrets of every URL in it masked: the password of user:password@ (a lone user, which
    some gateways take as the key, entirely) and every query value. For whatever is recorded or printed."""
    return URL.sub(lambda m: _redact_url(m.group(0)), text)


def redact_all(args: Iterable[str]) -> list[str]:
    return [redact(a) for a in args]


def _redact_url(url: str) -> str:
    def userinfo(m: re.Match) -> str:
        user, colon, _password = m.group("userinfo").partition(":")
        return f"{m.group('scheme')}{user + ':' if colon else ''}{REDACTED}@"

    url = USERINFO.sub(userinfo, url, count=1)
    return QUERY_VALUE.sub(lambda m: m.group("name") + REDACTED, url)


def url_credentials(url: str) -> tuple[str, str | None]:
    """(the URL without user:password@, an `Authorization: Basic` value from them or None)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    bare = USERINFO.sub(lambda m: m.group("scheme"), url, count=1)
    return bare, "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def is_redacted(url: str) -> bool:
    """A URL read back from a record: its secrets were masked, so it cannot authenticate."""
    parts = urlsplit(url)
    return REDACTED in (parts.username, parts.password) or f"={REDACTED}" in parts.query


# ---- driving the async client from synchronous code --------------------------------------------------


class LoopThread:
    """One event loop on a daemon thread that runs coroutines for synchronous callers, several threads at once:
    the client's connection pool and the concurrency bound are shared by every call (the runner keeps one
    sample per call in flight on several threads, so that each is recorded the moment it is answered)."""

    def __init__(self, name: str = "llmrec-openai"):
        self.loop = asyncio.new_event_loop()
        self.client: Any = None  # made on the loop by its user, closed by close()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        try:
            return future.result()
        except BaseException:
            future.cancel()  # Ctrl-C while waiting: its requests stop too
            raise

    def close(self) -> None:
        """Close the client's connections, then stop the loop; safe to call twice."""
        if self.loop.is_closed() or not self.thread.is_alive():
            return
        if self.client is not None and threading.current_thread() is not self.thread:
            try:
                asyncio.run_coroutine_threadsafe(self.client.close(), self.loop).result(timeout=5)
            except Exception:  # noqa: BLE001 - closing connections at exit: nothing left to report to
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout=5)
            if not self.thread.is_alive():
                self.loop.close()


async def all_or_none(coros: Iterable[Awaitable[T]], fatal: Callable[[BaseException], bool]) -> list[T]:
    """Await coroutines concurrently, results in order; the first failure cancels the rest (asyncio.gather
    leaves them running, sending and retrying requests after the call has failed). A failure that is
    `fatal` is raised in preference to the others."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    if not tasks:
        return []
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:  # also when this call itself is cancelled
        pending = [t for t in tasks if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending)
        # read every failure, also of a call cancelled while they came in: asyncio would print each unread one
        # with its traceback when the task is collected
        failures = [t.exception() for t in tasks if t.done() and not t.cancelled() and t.exception() is not None]
    if failures:
        raise next((e for e in failures if fatal(e)), failures[0])
    return [t.result() for t in tasks]
