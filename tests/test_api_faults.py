"""The openai backend under faults, against a real llama.cpp server (SmolLM2) behind a fault-injecting proxy
that counts every request: malformed 200s, dropped connections, stalls, refused keys, nothing listening,
credentials in the URL, kill -9 in the middle of a run and its resume."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llama_server import free_port, llama_server  # noqa: F401 - pytest fixture

from llmrec.backends.openai_api import OpenAIBackend, probe_prefixes
from llmrec.backends.openai_http import BadBody, choice_text, choices, json_object, redact, url_credentials
from llmrec.errors import LLMRecError, SampleFailed
from llmrec.records import SampleLog
from llmrec.types import GenerateRequest, ScoreRequest

pytestmark = pytest.mark.slow
CAPITAL = "What is the capital of France? Answer with one word."
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


# ---- the proxy ----------------------------------------------------------------------------------

ANSWER = {"id": "x", "object": "chat.completion", "created": 1, "model": "smollm2"}
FAULTS = {
    # a 200 whose body is cut inside the JSON
    "bad-json": (200, "application/json", b'{"id": "x", "object": "chat.completion", "choices": [{"index": 0, '),
    "empty-choices": (200, "application/json", json.dumps({**ANSWER, "choices": []}).encode()),
    "not-json": (200, "text/html", b"<html><body>502 Bad Gateway</body></html>"),
}


@dataclass
class Request:
    method: str
    path: str
    body: dict
    headers: dict
    fault: str | None = None
    status: int | None = None  # None: no answer was sent (a stall, a drop, a close)
    response: dict | None = None


@dataclass
class Proxy:
    """Forwards to the server; `inject(fault, n, path)` makes the next n requests whose path ends with `path`
    get the fault: a FAULTS body, "drop" (headers, half the body, then the connection closes), "close" (the
    connection closes before any answer), "stall" (no answer until the proxy closes), an HTTP status, or
    "pass" (forwarded: a request left alone between faults)."""

    upstream: tuple[str, int]
    faults: dict = field(default_factory=dict)  # path suffix -> deque of faults
    seen: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)
    base_url: str = ""

    def inject(self, fault: str, times: int = 1, path: str = "/completions") -> None:
        with self.lock:
            self.faults.setdefault(path, deque()).extend([fault] * times)

    def take(self, path: str) -> str | None:
        with self.lock:
            for suffix, queue in self.faults.items():
                if path.endswith(suffix) and queue:
                    return queue.popleft()
        return None

    def completions(self) -> list[Request]:
        return [r for r in self.seen if r.path.endswith("/completions")]

    def prompts(self) -> list[str]:
        return [r.body["messages"][0]["content"] if "messages" in r.body else r.body["prompt"]
                for r in self.completions()]


class Handler(BaseHTTPRequestHandler):
    server: "ProxyServer"

    def log_message(self, format: str, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.handle_one()

    def do_POST(self) -> None:
        self.handle_one()

    def handle_one(self) -> None:
        proxy = self.server.proxy
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen = Request(self.command, self.path, json.loads(raw) if raw else {},
                       {k.lower(): v for k, v in self.headers.items()})
        seen.fault = proxy.take(self.path)
        if seen.fault == "pass":
            seen.fault = None
        with proxy.lock:
            proxy.seen.append(seen)
        if seen.fault in ("stall", "close"):
            if seen.fault == "stall":
                proxy.released.wait(60)
            self.close_connection = True
            return
        if seen.fault in FAULTS:
            status, kind, payload = FAULTS[seen.fault]
        elif seen.fault is not None and seen.fault.isdigit():
            status, kind = int(seen.fault), "application/json"
            payload = json.dumps({"error": {"message": f"injected {seen.fault}", "type": "test"}}).encode()
        else:
            status, kind, payload = self.forward(raw)
        if seen.fault == "drop":
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        seen.status = status
        if status == 200 and not seen.fault:
            seen.response = json.loads(payload)
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def forward(self, raw: bytes) -> tuple[int, str, bytes]:
        import http.client

        conn = http.client.HTTPConnection(*self.server.proxy.upstream, timeout=300)
        try:
            conn.request(self.command, self.path, body=raw or None, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type") or "application/json", resp.read()
        finally:
            conn.close()


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    proxy: Proxy

    def handle_error(self, request, client_address) -> None:
        pass  # a client that went away (killed, or cancelled its request): nothing to report


@pytest.fixture()
def proxy(llama_server):
    host, port = llama_server.base_url.split("://")[1].split("/")[0].split(":")
    state = Proxy((host, int(port)))
    server = ProxyServer(("127.0.0.1", 0), Handler)
    server.proxy = state
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _no_real_credentials(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def backend(proxy: Proxy, **kw) -> OpenAIBackend:
    b = OpenAIBackend("smollm2", base_url=proxy.base_url, **kw)
    b.backoff_base = 0.05  # retries within the test's time
    return b


# ---- the backend: each fault class --------------------------------------------------------------


@pytest.mark.parametrize("fault, said", [
    ("bad-json", "malformed response from http://127.0.0.1:"),
    ("empty-choices", "malformed response from .*: a 200 with no choices"),
    ("not-json", "malformed response from .*: a 200 whose body is not JSON: '<html><body>502 Bad Gateway"),
    ("drop", "the connection to .* dropped in the middle of the answer"),
    ("close", "closed the connection without answering"),
])
def test_each_fault_is_retried_and_said_for_what_it_is(proxy, caplog, fault, said):
    caplog.set_level(logging.WARNING)
    proxy.inject(fault)
    b = backend(proxy)
    [[text]] = b.generate([GenerateRequest(CAPITAL, max_new_tokens=4)])
    assert text.strip()
    assert [r.fault for r in proxy.completions()] == [fault, None]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "retry 1/6" in warnings[0]
    assert re.search(said, warnings[0]), warnings[0]
    assert "cannot connect" not in warnings[0]
    assert b.request_counts() == {"retries": 1, "timeouts": 0}


def test_faults_past_the_retries_fail_the_sample_not_the_run(proxy):
    b = backend(proxy, max_retries=2)
    proxy.inject("bad-json")
    proxy.inject("empty-choices")
    proxy.inject("not-json")
    with pytest.raises(SampleFailed, match=r"^gave up after 2 retries: malformed response .*not JSON") as err:
        b.generate([GenerateRequest(CAPITAL, max_new_tokens=4)])
    assert "\n" not in str(err.value) and len(proxy.completions()) == 3
    [[text]] = b.generate([GenerateRequest(CAPITAL, max_new_tokens=4)])  # the next sample is answered
    assert text.strip()


def test_a_stall_is_a_counted_timeout(proxy):
    proxy.inject("stall")
    b = backend(proxy, timeout=5.0)
    [[text]] = b.generate([GenerateRequest(CAPITAL, max_new_tokens=2)])
    assert text.strip() and b.request_counts() == {"retries": 1, "timeouts": 1}


def test_a_fatal_error_cancels_the_requests_in_flight_without_retry_lines(proxy, caplog):
    caplog.set_level(logging.WARNING)
    proxy.inject("stall", 3)
    proxy.inject("401")
    b = backend(proxy, concurrency=4, timeout=30.0)
    with pytest.raises(LLMRecError, match=r"^HTTP 401 from .*check OPENAI_API_KEY$"):
        b.generate([GenerateRequest(f"{CAPITAL} ({i})", max_new_tokens=4) for i in range(4)])
    assert not caplog.records  # the stalled ones were cancelled, not left to time out and retry
    assert len(proxy.completions()) == 4
    [[text]] = b.generate([GenerateRequest(CAPITAL, max_new_tokens=4)])  # the backend still works
    assert text.strip()


def test_a_call_stopped_just_after_its_request_failed_reads_the_failure():
    # the runner stops the calls in flight after a row of failed samples; a request that failed in that moment
    # must not be left unread, or asyncio prints it with a traceback when its task is collected
    import asyncio
    import gc

    from llmrec.backends.openai_http import all_or_none

    unread = []

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: unread.append(context["message"]))
        failed = []

        async def request():
            failed.append(True)
            raise SampleFailed("gave up after 0 retries: HTTP 500")

        call = asyncio.ensure_future(all_or_none([request()], fatal=lambda e: False))
        while not failed:
            await asyncio.sleep(0)
        call.cancel()  # before the call has seen the failure
        with pytest.raises(asyncio.CancelledError):
            await call
        del call
        gc.collect()

    asyncio.run(main())
    assert unread == []


# ---- likelihood: the echo probe -----------------------------------------------------------------

# The model's next token after this answer is end-of-text; llama.cpp's echo is shifted without the BOS text.
ENDED = "user\nWhat is 2+2? Answer with a number.<|im_end|>\n<|im_start|>assistant\n4"


def test_the_echo_probe_forces_a_token_so_a_shifted_echo_is_refused_at_once(proxy):
    b = backend(proxy)
    with pytest.raises(LLMRecError, match="echo.logprobs.*shifted") as err:
        b.loglikelihood([ScoreRequest(ENDED, (" 4", " 5", " 6"))])
    assert "\n" not in str(err.value)
    first, *rest = proxy.completions()
    assert first.body["prompt"] == ENDED and first.response["choices"][0]["text"] == ""  # the model ended
    assert len(rest) == 2 and not rest[0].body.get("echo") and rest[1].body.get("echo")  # a prefix, its echo
    assert not any(r.body.get("prompt", "").startswith(ENDED) and r.body.get("echo") for r in rest)


def test_the_echo_probe_passes_an_aligned_prompt_that_ends(proxy):
    b = backend(proxy)
    [scores] = b.loglikelihood([ScoreRequest("<|im_start|>" + ENDED, ("!", " banana"))])
    assert len(scores) == 2 and all(x.logprob < 0 and x.tokens >= 1 for x in scores)
    probe, prefix, check, *scored = proxy.completions()
    assert probe.response["choices"][0]["text"] == "" and prefix.body["prompt"] != probe.body["prompt"]
    assert len(scored) == 2


def test_probe_prefixes_cut_mid_text():
    assert probe_prefixes("a b c d") == ["a b c d", "a b c", "a"]
    assert probe_prefixes("word") == ["word"]


# ---- the command line: failed samples, counts, resume --------------------------------------------


def bench(proxy_url: str, output: Path, data_root: Path, *extra: str, env: dict | None = None,
          limit: int = 6) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "llmrec", "bench", "--model", "smollm2", "--base-url", proxy_url, "--task",
           "rating", "--limit", str(limit), "--output", str(output), "--max-new-tokens", "4", *extra]
    environment = {**os.environ, "LLMREC_DATA_DIR": str(data_root), **(env or {})}  # no key unless in `env`
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=environment)


def warm_up(proxy: Proxy) -> None:
    """One request straight to the server: its first one is much slower, and a timeout must be the stall's."""
    import urllib.request

    body = json.dumps({"model": "smollm2", "prompt": CAPITAL, "max_tokens": 1}).encode()
    url = f"http://{proxy.upstream[0]}:{proxy.upstream[1]}/v1/completions"
    urllib.request.urlopen(urllib.request.Request(url, body, {"Content-Type": "application/json"}), timeout=300).read()


def run_folder(output: Path) -> Path:
    (folder,) = output.iterdir()
    return folder


def records(folder: Path) -> list[dict]:
    """Every line of the run's samples.jsonl (a failed sample answered later has two)."""
    return [json.loads(x) for x in (folder / "samples.jsonl").read_text().splitlines()]


def test_failed_samples_are_recorded_counted_and_a_rerun_asks_for_them_only(proxy, tmp_path, data_root):
    args = ("--concurrency", "1", "--max-retries", "1", "--timeout", "20")  # a busy 1-core server: seconds
    warm_up(proxy)
    # Sample 1: two malformed bodies (it fails); 2-5: one fault each, then answered; the stall is a timeout.
    for fault in ("bad-json", "bad-json", "empty-choices", "pass", "not-json", "pass", "stall", "pass", "drop"):
        proxy.inject(fault)
    done = bench(proxy.base_url, tmp_path / "faulty", data_root, *args)
    assert done.returncode == 0, done.stderr
    assert "cannot connect" not in done.stderr and "Traceback" not in done.stderr
    assert "rating: 1 of 6 samples failed (last: gave up after 1 retries: malformed response" in done.stderr, done.stderr
    assert "failed 1" in done.stdout
    folder = run_folder(tmp_path / "faulty")
    failed = [r for r in records(folder) if "failed" in r]
    assert len(failed) == 1 and "prediction" not in failed[0]  # never recorded as an answer
    metrics = json.loads((folder / "metrics.json").read_text())["tasks"]["rating"]
    assert metrics["counts"]["failed"] == 1 and metrics["counts"]["samples"] == 5
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["tasks"]["rating"]["requests"] == {"retries": 5, "timeouts": 1, "failures": 1}
    assert manifest["tasks"]["rating"]["counts"]["failed"] == 1
    first_tokens, first_wall = manifest["tokens"]["tokens_in"], manifest["wall_time_s"]

    proxy.seen.clear()
    again = bench(proxy.base_url, tmp_path / "faulty", data_root, *args)
    assert again.returncode == 0, again.stderr
    assert "1 failed ones to ask again" in again.stderr
    assert proxy.prompts() == [p for r in records(folder) if r["sample_id"] == failed[0]["sample_id"]
                               for p in [r.get("prompt")] if p]  # one request: the failed sample's
    after = json.loads((folder / "manifest.json").read_text())
    assert after["tasks"]["rating"]["requests"] == {"retries": 5, "timeouts": 1, "failures": 1}  # over both
    assert "failed" not in after["tasks"]["rating"]["counts"]
    resent_tokens = sum(r.response["usage"]["prompt_tokens"] for r in proxy.completions())
    assert after["tokens"]["tokens_in"] == first_tokens + resent_tokens
    assert after["wall_time_s"] > first_wall

    clean = bench(proxy.base_url, tmp_path / "clean", data_root, *args)
    assert clean.returncode == 0, clean.stderr
    whole = json.loads((run_folder(tmp_path / "clean") / "metrics.json").read_text())["tasks"]["rating"]
    resumed = json.loads((folder / "metrics.json").read_text())["tasks"]["rating"]
    assert resumed["metrics"] == whole["metrics"] and resumed["counts"] == whole["counts"]


def test_kill_9_midway_then_resume_sends_no_answered_request_again(proxy, tmp_path, data_root):
    limit, concurrency = 40, 4
    env = {**os.environ, "LLMREC_DATA_DIR": str(data_root)}
    env.pop("OPENAI_API_KEY", None)
    cmd = [sys.executable, "-m", "llmrec", "bench", "--model", "smollm2", "--base-url", proxy.base_url, "--task",
           "rating", "--limit", str(limit), "--output", str(tmp_path), "--max-new-tokens", "4",
           "--concurrency", str(concurrency)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    log = None
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        found = list(tmp_path.glob("*/samples.jsonl"))
        if found and len(found[0].read_bytes().splitlines()) >= 10:
            log = found[0]
            break
        time.sleep(0.02)
    assert log is not None, "the run ended before it could be killed midway"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # requests in flight at the kill reach the proxy's log
    kept = {r["prompt"] for r in SampleLog.read(log).records.values()}  # a line cut by the kill left out
    answered_before = [r for r in proxy.completions() if r.status == 200]
    assert 10 <= len(kept) < limit
    # Every answer the proxy sent is recorded, but for the few in flight when the kill came.
    assert len([r for r in answered_before if r.body["messages"][0]["content"] not in kept]) <= concurrency
    checkpoint = json.loads((log.parent / "manifest.json").read_text())  # a killed run leaves its counts
    assert checkpoint["tokens"]["tokens_in"] > 0 and "counts" not in checkpoint["tasks"]["rating"]

    proxy.seen.clear()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stderr
    resent = proxy.prompts()
    assert len(resent) == len(set(resent)) == limit - len(kept)
    assert not set(resent) & kept  # nothing answered and recorded is asked again
    ids = [r["sample_id"] for r in records(log.parent)]
    assert len(ids) == len(set(ids)) == limit
    manifest = json.loads((log.parent / "manifest.json").read_text())
    assert manifest["wall_time_s"] >= checkpoint["wall_time_s"]
    assert manifest["tokens"]["tokens_in"] == checkpoint["tokens"]["tokens_in"] + sum(
        r.response["usage"]["prompt_tokens"] for r in proxy.completions())


def test_a_server_failing_every_sample_stops_the_run_after_a_row_of_failures(proxy, tmp_path, data_root):
    proxy.inject("500", 1000)
    done = bench(proxy.base_url, tmp_path, data_root, "--max-retries", "0", "--concurrency", "2", limit=40)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: rating: the last ") and "samples all failed (last: gave up after 0 retries: " \
        "HTTP 500 from" in last, done.stderr
    failed = records(run_folder(tmp_path))
    assert 20 <= len(failed) <= 22  # the row, and the samples in flight when it ended
    assert all("failed" in r for r in failed) and len(proxy.completions()) <= 22
    manifest = json.loads((run_folder(tmp_path) / "manifest.json").read_text())
    assert manifest["tasks"]["rating"]["requests"]["failures"] == len(failed)


# ---- the command line: start-up failures in one line --------------------------------------------


def one_error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def test_nothing_listening_fails_at_once_in_one_line(tmp_path, data_root):
    line = one_error_line(bench(f"http://127.0.0.1:{free_port()}/v1", tmp_path, data_root))
    assert "cannot connect to http://127.0.0.1:" in line and "nothing answers there" in line


def test_a_refused_key_fails_at_the_preflight(proxy, tmp_path, data_root):
    proxy.inject("401", path="/models")
    line = one_error_line(bench(proxy.base_url, tmp_path, data_root, env={"OPENAI_API_KEY": "sk-test-refused"}))
    assert "HTTP 401" in line and "check OPENAI_API_KEY" in line and "sk-test-refused" not in line
    assert [r.path for r in proxy.seen] == ["/v1/models"]


def test_a_silent_server_fails_after_one_timeout(proxy, tmp_path, data_root):
    proxy.inject("stall", path="/models")
    line = one_error_line(bench(proxy.base_url, tmp_path, data_root, "--timeout", "1"))
    assert "no answer from" in line and "within 1 s to GET /models" in line
    assert [r.path for r in proxy.seen] == ["/v1/models"]


def test_fatal_error_mid_run_ends_with_one_line_and_no_retry_lines(proxy, tmp_path, data_root):
    proxy.inject("stall", 3)
    proxy.inject("403")
    done = bench(proxy.base_url, tmp_path, data_root, "--concurrency", "4", "--timeout", "60")
    assert done.returncode == 2, done.stderr
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert lines[-1].startswith("error: HTTP 403 from ") and "check OPENAI_API_KEY" in lines[-1], done.stderr
    assert not [x for x in lines if "retry" in x or "error" in x][:-1], done.stderr  # the stalls were cancelled
    assert len(proxy.completions()) == 4


# ---- credentials in the URL ---------------------------------------------------------------------

SECRET = "s3cret-Key-9f1"


def test_userinfo_is_sent_as_basic_auth_and_never_recorded(proxy, tmp_path, data_root):
    url = proxy.base_url.replace("http://", f"http://alice:{SECRET}@")
    done = bench(url + "?api-version=2024", tmp_path / "runs", data_root, limit=2)
    assert done.returncode == 0, done.stderr
    expected = "Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode()
    assert proxy.seen and all(r.headers.get("authorization") == expected for r in proxy.seen)
    folder = run_folder(tmp_path / "runs")
    for path in folder.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path
    assert SECRET not in done.stderr + done.stdout
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["settings"]["base_url"].startswith("http://alice:***@127.0.0.1:")
    assert manifest["settings"]["base_url"].endswith("?api-version=***")
    assert any(arg.startswith("http://alice:***@") for arg in manifest["command"])

    # The recorded config cannot authenticate: re-running it asks for the credentials, in one line.
    proxy.seen.clear()
    line = one_error_line(subprocess.run(
        [sys.executable, "-m", "llmrec", "bench", "--config", str(folder / "config.yaml"), "--fresh"],
        capture_output=True,
        text=True, timeout=600, env={**os.environ, "LLMREC_DATA_DIR": str(data_root)}))
    assert "credentials were masked" in line and not proxy.seen


def test_userinfo_and_an_api_key_together_are_refused(tmp_path, data_root):
    done = bench(f"http://bob:{SECRET}@127.0.0.1:{free_port()}/v1", tmp_path, data_root,
                 env={"OPENAI_API_KEY": "sk-other"})
    line = one_error_line(done)
    assert "carries user:password and OPENAI_API_KEY is set" in line and SECRET not in line


def test_url_credentials_and_redaction():
    bare, auth = url_credentials(f"http://u%40x:{SECRET}@host:8000/v1")
    assert bare == "http://host:8000/v1" and base64.b64decode(auth.split()[1]).decode() == f"u@x:{SECRET}"
    assert url_credentials("http://host/v1") == ("http://host/v1", None)
    assert redact(f"--base-url=https://k:{SECRET}@h/v1?key={SECRET}&x=1") == "--base-url=https://k:***@h/v1?key=***&x=***"
    assert redact(f"see http://{SECRET}@h/v1 now") == "see http://***@h/v1 now"


# ---- fuzzing: response bodies and URLs ----------------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
CHOICE = st.fixed_dictionaries({}, optional={"index": JSON | st.integers(0, 3), "text": JSON | st.text(max_size=8),
                                             "message": JSON | st.fixed_dictionaries({}, optional={
                                                 "content": JSON | st.text(max_size=8)})})
BODY = JSON | st.fixed_dictionaries({}, optional={"choices": JSON | st.lists(CHOICE | JSON, max_size=3),
                                                  "usage": JSON})
GENERATED = {"bodies": 0, "urls": 0}


@FUZZ
@given(body=BODY, kind=st.sampled_from(["chat", "text"]), cut=st.integers(0, 40))
def test_fuzz_any_response_body_gives_texts_or_a_bad_body(body, kind, cut):
    GENERATED["bodies"] += 1
    raw = json.dumps(body).encode()
    for data in (raw, raw[:cut]):
        try:
            got = choices(json_object(data), kind)
        except BadBody as err:
            assert str(err) and "\n" not in str(err)
            continue
        assert got and all(isinstance(c, dict) for c in got)
        assert all(isinstance(choice_text(c, kind), str) for c in got)


URL_TEXT = st.text(st.characters(codec="ascii", categories=["L", "N", "P", "S"], exclude_characters="/?#@:&='\"<>"),
                   min_size=1, max_size=12)


@FUZZ
@given(user=URL_TEXT, password=URL_TEXT, key=URL_TEXT, value=URL_TEXT, prefix=st.sampled_from(["", "--base-url=", "x "]))
def test_fuzz_redaction_leaves_no_secret(user, password, key, value, prefix):
    GENERATED["urls"] += 1
    password, value = "P" + password + "W", "V" + value + "Q"
    masked = redact(f"{prefix}http://{user}:{password}@host:1/v1?{key}={value}")
    assert masked == f"{prefix}http://{user}:***@host:1/v1?{key}=***"
