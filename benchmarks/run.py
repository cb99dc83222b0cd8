"""llmrec's speed, measured side by side: every figure is a ratio against a reference run in this process.

    python benchmarks/run.py [--quick] [--only NAMES] [--device cpu|cuda] [--json OUT]

Figures (names for --only): generation, scoring, api, efficiency, data, e2e.
Absolute times depend on the machine and its load; the ratios are what the targets constrain.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIGURES = ("generation", "scoring", "api", "efficiency", "data", "e2e")
NEW_TOKENS = 64  # generated per prompt in the generation figure (forced: no early end of sequence)
GiB = 1 << 30


@dataclass
class Figure:
    name: str
    value: float | None
    unit: str
    target: str  # e.g. ">= 6"; "" when the figure has no target
    passed: bool | None  # None: no target
    details: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        value = "n/a" if self.value is None else f"{self.value:.3g}"
        verdict = {True: "PASS", False: "FAIL", None: "-"}[self.passed]
        note = f"  ({self.details['note']})" if self.details.get("note") else ""
        return f"{self.name:<44} {value:>8} {self.unit:<14} target {self.target or 'none':<8} {verdict}{note}"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- shared context: one model, one dataset, the matmul reference ---------------------------------


class Context:
    def __init__(self, quick: bool, device: str, work: Path, threads: int = 0):
        self.quick = quick
        self.threads = threads  # 0: torch's default
        self.device = device
        self.work = work  # scratch folder: prepared data, run outputs
        self._backend = None

    def backend(self):
        if self._backend is None:
            from llmrec.backends import load_backend

            log("loading SmolLM2 (hf backend)...")
            self._backend = load_backend("smollm2", backend="hf", device=self.device)
        return self._backend

    def prepared(self, name: str = "movielens-100k"):
        from llmrec.data import prepare_dataset

        return prepare_dataset(name, cache_dir=self.work / "prepared")

    def samples(self, task: str, limit: int, shots: int = 0):
        from llmrec.tasks import SampleOptions, get_task

        return get_task(task).build(self.prepared(), SampleOptions(limit=limit, shots=shots))

    def render(self, task: str, template: str, samples) -> list[str]:
        from llmrec.prompts import load_template

        chosen = load_template(task, template)
        return [chosen.render(s.variables) for s in samples]

    def sync(self) -> None:
        import torch

        if self.device.startswith("cuda"):
            torch.cuda.synchronize()

    def matmul_flops(self, reps: int = 5) -> float:
        """Dense matmul FLOP/s in the model's dtype on its device, at the current thread count: the best
        of `reps` timings of an n x n x n torch.mm (the machine's best, so the floor is not flattered)."""
        import torch

        backend = self.backend()
        n = 8192 if backend.device.type == "cuda" else 2048
        a = torch.randn(n, n, dtype=backend.dtype, device=backend.device)
        b = torch.randn(n, n, dtype=backend.dtype, device=backend.device)
        torch.mm(a, b)
        self.sync()
        best = float("inf")
        for _ in range(reps):
            started = time.perf_counter()
            torch.mm(a, b)
            self.sync()
            best = min(best, time.perf_counter() - started)
        return 2 * n**3 / best

    def timed(self, work: Callable[[], Any]) -> tuple[Any, float, float]:
        """(result, seconds, matmul FLOP/s): the reference is measured right before and right after
        the work, and the higher of the two is used, so load on a shared machine cannot flatter us."""
        before = self.matmul_flops()
        self.sync()
        started = time.perf_counter()
        result = work()
        self.sync()
        seconds = time.perf_counter() - started
        after = self.matmul_flops()
        return result, seconds, max(before, after)


def params(backend) -> int:
    return backend.model.num_parameters()


# ---- 1. batched generation ------------------------------------------------------------------------


def fig_generation(ctx: Context) -> list[Figure]:
    import torch

    from llmrec.backends.local import encode_prompt
    from llmrec.types import GenerateRequest

    backend = ctx.backend()
    model, tokenizer = backend.model, backend.tokenizer
    n = 32 if ctx.quick else 64
    loop_n = 4 if ctx.quick else n
    prompts = ctx.render("sequential", "zero-shot", ctx.samples("sequential", n))
    requests = [GenerateRequest(p, chat=True, max_new_tokens=NEW_TOKENS) for p in prompts]
    prompt_ids = [encode_prompt(tokenizer, p, True)[0] for p in prompts]
    # Every row generates exactly NEW_TOKENS tokens: the model may not end early, here or in the loop.
    saved = model.generation_config.min_new_tokens
    model.generation_config.min_new_tokens = NEW_TOKENS
    try:
        backend.generate(requests[:2])  # warm-up (allocator, kernels)
        log(f"generation: llmrec, {n} prompts x {NEW_TOKENS} tokens...")
        texts, llmrec_s, flops = ctx.timed(lambda: [t[0] for t in backend.generate(requests)])

        def loop() -> list[str]:  # one prompt at a time, as LLMRec's inference script does
            out = []
            for ids in prompt_ids[:loop_n]:
                input_ids = torch.tensor([ids], device=backend.device)
                with torch.inference_mode():
                    generated = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                               max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                                               do_sample=False, num_beams=1)
                out.append(tokenizer.decode(generated[0, len(ids):], skip_special_tokens=True))
            return out

        log(f"generation: plain loop, {loop_n} prompts one at a time...")
        loop_texts, loop_s, loop_flops = ctx.timed(loop)
    finally:
        model.generation_config.min_new_tokens = saved
    tokens = sum(len(ids) for ids in prompt_ids) + n * NEW_TOKENS
    floor_s = 2 * params(backend) * tokens / flops
    loop_total_s = loop_s / loop_n * n
    same = sum(a == b for a, b in zip(texts, loop_texts))
    extrapolated = f"loop timed on {loop_n} of {n} prompts, extrapolated per prompt" if loop_n < n else ""
    common = {"prompts": n, "new_tokens_each": NEW_TOKENS, "prompt_tokens": tokens - n * NEW_TOKENS,
              "llmrec_s": round(llmrec_s, 2), "loop_s": round(loop_s, 2), "loop_prompts": loop_n,
              "loop_total_s": round(loop_total_s, 2), "matmul_gflops": round(flops / 1e9, 1),
              "matmul_gflops_loop_run": round(loop_flops / 1e9, 1), "floor_s": round(floor_s, 2),
              "tokens_per_s": round(n * NEW_TOKENS / llmrec_s, 1)}
    speedup = loop_total_s / llmrec_s
    of_floor = llmrec_s / floor_s
    return [
        Figure("generation: speedup vs one-at-a-time loop", speedup, "x", ">= 6", speedup >= 6,
               {**common, "note": extrapolated}),
        Figure("generation: wall / compute floor", of_floor, "x floor", "<= 1.5", of_floor <= 1.5, common),
        Figure("generation: identical outputs vs loop", same / len(loop_texts), "fraction", "== 1",
               same == len(loop_texts), {"identical": same, "compared": len(loop_texts),
                                         "first_difference": next(({"llmrec": a, "loop": b} for a, b in
                                                                   zip(texts, loop_texts) if a != b), None)}),
    ]


# ---- 2 and 4. likelihood ranking of candidates ----------------------------------------------------


def scoring_requests(ctx: Context, count: int):
    """Sequential-task ScoreRequests with one solved example (prompts of about 300-400 tokens), each
    ranking the sample's 100 candidate titles, exactly as the runner builds them."""
    from llmrec.types import ScoreRequest

    samples = ctx.samples("sequential", count, shots=1)
    prompts = ctx.render("sequential", "few-shot", samples)
    return [ScoreRequest(p, tuple(c["title"] for c in s.variables["candidates"]), chat=True)
            for p, s in zip(prompts, samples)]


def plain_scores(backend, request, limit: int | None = None) -> list[float]:
    """The reference: one full forward pass per prompt+candidate sequence (logits kept only where
    needed, so the baseline does not pay for logits it does not use)."""
    import torch

    from llmrec.backends.local import continuation_ids, encode_prompt

    prompt = encode_prompt(backend.tokenizer, request.prompt, request.chat)[0]
    out = []
    for text in request.continuations[:limit]:
        cont = continuation_ids(backend.tokenizer, text)
        ids = torch.tensor([prompt + cont], device=backend.device)
        with torch.inference_mode():
            logits = backend.model(input_ids=ids, logits_to_keep=len(cont) + 1).logits[0, :-1].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        out.append(float(logprobs.gather(-1, torch.tensor(cont, device=backend.device)[:, None]).sum()))
    return out


def fig_scoring(ctx: Context) -> list[Figure]:
    backend = ctx.backend()
    request = scoring_requests(ctx, 1)[0]
    loop_n = 20 if ctx.quick else len(request.continuations)
    backend.loglikelihood(scoring_requests(ctx, 2)[1:])  # warm-up on another prompt
    log(f"scoring: llmrec shared prefix, {len(request.continuations)} candidates...")
    runs = [ctx.timed(lambda: backend.loglikelihood([request])[0]) for _ in range(3)]
    scores = runs[0][0]
    llmrec_s = statistics.median(r[1] for r in runs)
    log(f"scoring: plain loop, {loop_n} full sequences...")
    reference, loop_s, _ = ctx.timed(lambda: plain_scores(backend, request, loop_n))
    loop_total_s = loop_s / loop_n * len(request.continuations)
    diff = max(abs(a.logprob - b) for a, b in zip(scores, reference))
    speedup = loop_total_s / llmrec_s
    details = {"candidates": len(request.continuations), "prompt_tokens": backend.prompt_tokens(request.prompt),
               "llmrec_s": round(llmrec_s, 3), "llmrec_runs_s": [round(r[1], 3) for r in runs],
               "loop_s": round(loop_s, 2), "loop_candidates": loop_n, "loop_total_s": round(loop_total_s, 2),
               "note": f"loop timed on {loop_n} of {len(request.continuations)} candidates, extrapolated"
               if loop_n < len(request.continuations) else ""}
    return [
        Figure("scoring: speedup vs one forward per candidate", speedup, "x", ">= 8", speedup >= 8, details),
        Figure("scoring: max |score difference|", diff, "nats", "<= 1e-4", diff <= 1e-4,
               {"compared": len(reference)}),
    ]


def fig_efficiency(ctx: Context) -> list[Figure]:
    import torch

    from llmrec.backends.local import continuation_ids

    backend = ctx.backend()
    requests = scoring_requests(ctx, 2 if ctx.quick else 8)
    backend.loglikelihood(requests[:1])  # warm-up
    # Tokens the path must process: each prompt once, each candidate's tokens but the last
    # (the last token is only predicted, never fed).
    tokens = sum(backend.prompt_tokens(r.prompt) + sum(max(len(continuation_ids(backend.tokenizer, c)) - 1, 0)
                                                       for c in r.continuations) for r in requests)
    log(f"efficiency: likelihood ranking of {len(requests)} prompts x 100 candidates...")
    _, seconds, flops = ctx.timed(lambda: backend.loglikelihood(requests))
    achieved = 2 * params(backend) * tokens / seconds

    # For orientation: one plain batched forward (32 rows of 300 tokens) on the same machine.
    ids = torch.randint(0, 1000, (32, 300), device=backend.device)

    def forward():
        with torch.inference_mode():
            backend.model(input_ids=ids, logits_to_keep=1)

    forward()
    _, forward_s, forward_flops = ctx.timed(forward)
    plain = 2 * params(backend) * ids.numel() / forward_s / forward_flops
    fraction = achieved / flops
    return [Figure("efficiency: likelihood path FLOP/s / matmul FLOP/s", fraction, "fraction", ">= 0.6",
                   fraction >= 0.6,
                   {"tokens": tokens, "seconds": round(seconds, 2), "achieved_gflops": round(achieved / 1e9, 1),
                    "matmul_gflops": round(flops / 1e9, 1), "plain_batched_forward_fraction": round(plain, 3),
                    "torch_threads": torch.get_num_threads(),
                    "note": f"{torch.get_num_threads()} threads; plain batched forward reaches {plain:.0%}"})]


# ---- 3. API concurrency ---------------------------------------------------------------------------


def start_slow_server(delay: float) -> tuple[subprocess.Popen, int]:
    server = subprocess.Popen([sys.executable, str(HERE / "slow_server.py"), "--port", "0", "--delay", str(delay)],
                              stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    match = re.match(r"listening on (\d+)", line)
    if not match:
        server.kill()
        raise RuntimeError(f"slow_server.py did not start: {line!r}")
    return server, int(match.group(1))


def reference_clients(url: str, concurrency: int, total: int) -> dict[str, Callable[[], Any]]:
    """The same chat requests sent without llmrec: through the SDK's documented `create()` on the same
    transport, and as bare aiohttp posts (no SDK at all), to show where the client's CPU goes."""
    import asyncio

    def body(i: int) -> dict:
        return {"model": "slow", "messages": [{"role": "user", "content": f"request {i}: recommend a movie"}],
                "max_tokens": 8}

    async def bounded(one: Callable[[int], Any]) -> list[str]:
        gate = asyncio.Semaphore(concurrency)

        async def run(i: int) -> str:
            async with gate:
                return await one(i)

        return await asyncio.gather(*(run(i) for i in range(total)))

    async def sdk() -> list[str]:
        from openai import AsyncOpenAI, DefaultAioHttpClient

        async with AsyncOpenAI(api_key="EMPTY", base_url=url, max_retries=0, http_client=DefaultAioHttpClient()) as c:
            async def one(i: int) -> str:
                return (await c.chat.completions.create(**body(i))).choices[0].message.content
            return await bounded(one)

    async def bare() -> list[str]:
        import aiohttp

        async with aiohttp.ClientSession(headers={"Authorization": "Bearer EMPTY"}) as session:
            async def one(i: int) -> str:
                async with session.post(f"{url}/chat/completions", json=body(i)) as response:
                    return (await response.json())["choices"][0]["message"]["content"]
            return await bounded(one)

    return {"sdk_create": lambda: asyncio.run(sdk()), "bare_aiohttp": lambda: asyncio.run(bare())}


def timed_runs(work: Callable[[], Any], runs: int = 3) -> tuple[list[Any], float, float]:
    """(results, median wall seconds, median CPU seconds of this process) over `runs` runs."""
    results, walls, cpus = [], [], []
    for _ in range(runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        results.append(work())
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu_started)
    return results, statistics.median(walls), statistics.median(cpus)


def fig_api(ctx: Context) -> list[Figure]:
    from llmrec.backends.openai_api import OpenAIBackend
    from llmrec.errors import LLMRecError
    from llmrec.types import GenerateRequest

    delay, concurrency, total = 0.05, 32, 512
    ideal_s = total / (concurrency / delay)
    server, port = start_slow_server(delay)
    url = f"http://127.0.0.1:{port}/v1"
    saved_key = os.environ.pop("OPENAI_API_KEY", None)  # never send a real key to the local server
    try:
        backend = OpenAIBackend("slow", base_url=url, concurrency=concurrency)
        requests = [GenerateRequest(f"request {i}: recommend a movie", max_new_tokens=8) for i in range(total)]
        backend.generate(requests[:concurrency])  # warm-up: imports, first connections
        failures = 0

        def run_llmrec() -> None:
            nonlocal failures
            try:
                failures += sum(1 for a in backend.generate(requests) if a != ["[1, 2, 3]"])
            except LLMRecError as exc:
                failures += total
                log(f"api: run failed: {exc}")

        _, seconds, cpu = timed_runs(run_llmrec)
        references = {}
        for name, client in reference_clients(url, concurrency, total).items():
            client()  # warm-up
            answers, ref_s, ref_cpu = timed_runs(client)
            assert all(a == "[1, 2, 3]" for run in answers for a in run), f"{name}: unexpected answers"
            references[name] = {"fraction": round(ideal_s / ref_s, 3), "client_cpu_ms_per_request":
                                round(ref_cpu / total * 1e3, 2)}
    finally:
        if saved_key is not None:
            os.environ["OPENAI_API_KEY"] = saved_key
        server.terminate()
        server.wait(timeout=10)
    fraction = ideal_s / seconds
    sdk, bare = references["sdk_create"], references["bare_aiohttp"]
    details = {"requests": total, "concurrency": concurrency, "latency_s": delay, "ideal_s": ideal_s,
               "median_s": round(seconds, 3), "requests_per_s": round(total / seconds, 1),
               "ideal_requests_per_s": concurrency / delay, "failures": failures,
               # The client's own CPU per request bounds throughput on a machine this small.
               "client_cpu_ms_per_request": round(cpu / total * 1e3, 2), "references": references,
               "note": f"client CPU {cpu / total * 1e3:.2f} ms/request; same requests via the SDK's create() "
                       f"{sdk['fraction']:.2f} ({sdk['client_cpu_ms_per_request']:.2f} ms), bare aiohttp "
                       f"{bare['fraction']:.2f} ({bare['client_cpu_ms_per_request']:.2f} ms)"}
    return [Figure("api: throughput / ideal (c=32, 50 ms)", fraction, "fraction", ">= 0.9", fraction >= 0.9, details),
            Figure("api: failed requests", failures, "count", "== 0", failures == 0, {"runs": 3})]


# ---- 5. data preparation --------------------------------------------------------------------------


def prepare_in_child(cache: Path) -> dict:
    command = [sys.executable, str(HERE / "prepare_child.py"), "movielens-1m", str(cache), "rating,sequential,direct"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"prepare_child.py failed: {done.stderr.strip().splitlines()[-1:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - started
    return result


def fig_data(ctx: Context) -> list[Figure]:
    cache = ctx.work / "ml1m-cache"
    shutil.rmtree(cache, ignore_errors=True)
    log("data: MovieLens-1M from a cold cache...")
    cold = prepare_in_child(cache)
    log("data: MovieLens-1M from the warm cache...")
    warm = prepare_in_child(cache)
    cold_s = cold["prepare_s"] + cold["samples_s"]
    warm_s = warm["prepare_s"] + warm["samples_s"]
    rss = cold["max_rss_bytes"] / GiB
    common = {"samples": cold["samples"], "cold": cold, "warm": warm}

    def split(run: dict) -> str:
        return (f"prepare {run['prepare_s']:.2f} s + samples {run['samples_s']:.2f} s; fresh process, imports "
                f"excluded; reading every sample's variables adds {run['variables_s']:.2f} s")

    return [
        Figure("data: ML-1M cold prepare + samples", cold_s, "s", "<= 10", cold_s <= 10, {**common, "note": split(cold)}),
        Figure("data: ML-1M cold peak RSS", rss, "GiB", "<= 1", rss <= 1, {"max_rss_bytes": cold["max_rss_bytes"]}),
        Figure("data: ML-1M warm prepare + samples", warm_s, "s", "<= 1", warm_s <= 1,
               {"prepare_s": round(warm["prepare_s"], 3), "samples_s": round(warm["samples_s"], 3),
                "variables_s": round(warm["variables_s"], 3), "note": split(warm)}),
    ]


# ---- 6. end to end --------------------------------------------------------------------------------

_BAR = re.compile(r"^(\w+)\s.*?(\d+)/(\d+)\s+(\d+):(\d\d):(\d\d)")


def task_tokens(run_folder: Path, backend_tokenizer) -> dict[str, dict[str, int]]:
    """Prompt and generated tokens per task, counted on the recorded prompts and raw answers."""
    from llmrec.backends.local import encode_prompt

    counts: dict[str, dict[str, int]] = {}
    with open(run_folder / "samples.jsonl", encoding="utf-8") as handle:
        for line in handle:
            rec = json.loads(line)
            c = counts.setdefault(rec["task"], {"prompt_tokens": 0, "generated_tokens": 0})
            c["prompt_tokens"] += len(encode_prompt(backend_tokenizer, rec["prompt"] or "", True)[0])
            if isinstance(rec["raw"], str):
                c["generated_tokens"] += len(backend_tokenizer(rec["raw"], add_special_tokens=False)["input_ids"])
    return counts


def fig_e2e(ctx: Context) -> list[Figure]:
    from transformers import AutoTokenizer

    from llmrec.backends.models import resolve_model

    limit = 10 if ctx.quick else 50
    output = ctx.work / "e2e-runs"
    shutil.rmtree(output, ignore_errors=True)
    command = [sys.executable, "-m", "llmrec", "bench", "--model", "smollm2", "--task", "all",
               "--limit", str(limit), "--output", str(output)]
    log(f"e2e: {' '.join(command[2:])}...")
    env = {**os.environ, "COLUMNS": "120"}
    if ctx.threads:  # the CLI's torch reads this at start-up
        env["OMP_NUM_THREADS"] = str(ctx.threads)
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    task_s: dict[str, float] = {}
    stderr_tail = []
    for line in proc.stderr:  # rich prints each task's finished bar with its elapsed time
        stderr_tail = (stderr_tail + [line.rstrip()])[-5:]
        match = _BAR.match(line.strip())
        if match:
            h, m, s = (int(x) for x in match.groups()[3:])
            task_s[match.group(1)] = h * 3600 + m * 60 + s
    proc.wait()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"llmrec bench exited {proc.returncode}: {' | '.join(stderr_tail)}")
    folder = next(p.parent for p in output.glob("*/manifest.json"))
    manifest = json.loads((folder / "manifest.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("smollm2").load_id)
    tokens = task_tokens(folder, tokenizer)
    per_task = {}
    for name, task in metrics["tasks"].items():
        seconds = task_s.get(name)
        t = tokens.get(name, {})
        per_task[name] = {
            "samples": task["counts"]["samples"], "seconds": seconds,
            "samples_per_s": round(task["counts"]["samples"] / seconds, 2) if seconds else None,
            "prompt_tokens": t.get("prompt_tokens"), "generated_tokens": t.get("generated_tokens"),
            "tokens_per_s": round((t.get("prompt_tokens", 0) + t.get("generated_tokens", 0)) / seconds, 1)
            if seconds else None,
            "generated_tokens_per_s": round(t.get("generated_tokens", 0) / seconds, 1) if seconds else None,
        }
    figures = [Figure("e2e: llmrec bench --task all wall", wall, "s", "", None,
                      {"command": " ".join(["llmrec"] + command[3:]), "manifest_wall_s": manifest.get("wall_time_s"),
                       "model_info_device": manifest.get("model_info", {}).get("device"),
                       "note": f"--limit {limit}; task times have 1 s resolution"})]
    for name, row in per_task.items():
        figures.append(Figure(f"e2e: {name} samples/s", row["samples_per_s"], "samples/s", "", None,
                              {**row, "note": f"{row['tokens_per_s']} tok/s in+out, "
                                              f"{row['generated_tokens_per_s']} generated tok/s"}))
    return figures


# ---- machine info, main ---------------------------------------------------------------------------


def machine(device: str) -> dict[str, Any]:
    import torch

    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch_version": torch.__version__, "python": platform.python_version(), "device": device,
            "load_average_at_start": os.getloadavg()}
    info["device_name"] = torch.cuda.get_device_name(0) if device.startswith("cuda") else cpu
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller baselines (extrapolated); under 5 minutes")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(FIGURES)}")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="for the model figures")
    parser.add_argument("--json", type=Path, default=HERE / "results.json", help="where the results go")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for the model figures (0: torch's default); the matmul reference "
                             "uses the same count")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    chosen = [n.strip() for n in args.only.split(",") if n.strip()] or list(FIGURES)
    unknown = sorted(set(chosen) - set(FIGURES))
    if unknown:
        parser.error(f"--only: unknown figure(s) {', '.join(unknown)}; expected {', '.join(FIGURES)}")
    runners = {"generation": fig_generation, "scoring": fig_scoring, "api": fig_api,
               "efficiency": fig_efficiency, "data": fig_data, "e2e": fig_e2e}
    figures: list[Figure] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="llmrec-bench-") as work:
        ctx = Context(args.quick, args.device, Path(work), args.threads)
        for name in chosen:
            t0 = time.perf_counter()
            try:
                new = runners[name](ctx)
            except Exception as exc:  # one broken figure must not hide the others
                new = [Figure(name, None, "", "", False, {"error": f"{type(exc).__name__}: {exc}"})]
            for figure in new:
                figure.details["figure_s"] = round(time.perf_counter() - t0, 1)
                print(figure.line(), flush=True)
            figures += new
    result = {"command": " ".join(["python", "benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])]),
              "quick": args.quick, "total_s": round(time.perf_counter() - started, 1),
              "machine": machine(args.device), "figures": [asdict(f) for f in figures]}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {args.json} ({result['total_s']} s)")
    return 0 if all(f.passed is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
