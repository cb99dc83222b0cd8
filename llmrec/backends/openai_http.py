"""HTTP plumbing of the OpenAI backend, apart from its retry policy: a lean POST, reading Retry-After and
server error details, a URL safe to print, and running the async client from synchronous code."""

from __future__ import annotations

import asyncio
import email.utils
import re
import threading
import time
from typing import Any, Awaitable, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")


async def post(client: Any, path: str, body: dict[str, Any]) -> Any:
    """POST a plain-JSON body, parsed into the SDK's response type. Unlike `client.*.create`, this
    skips the SDK's per-call parameter transform, which walks typed-dict annotations and cost about
    1 ms of CPU a request: the bound on throughput at high concurrency (benchmarks/run.py api)."""
    from openai.types import Completion
    from openai.types.chat import ChatCompletion

    return await client.post(path, body=body, cast_to=ChatCompletion if path == "/chat/completions" else Completion)


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


def public_url(url: str) -> str:
    """scheme://host[:port]/path: no user:password, no query (some gateways put keys there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}"


def run_sync(coro: Awaitable[T]) -> T:
    """Run a coroutine from sync code; inside a running loop (notebooks), on a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="llmrec-openai")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]
