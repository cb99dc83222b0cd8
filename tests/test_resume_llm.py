"""Runs on a real (tiny, random) transformers model through the CLI: kill -9 and resume, batch-size
invariance. The tiny llama has SmolLM2's tokenizer and chat template, so the full hf path runs."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tiny_model import build_tiny_llama


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from llmrec.backends.models import smollm2_folder

    folder, _ = smollm2_folder()
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "llama", folder)


def bench_cmd(model, output, *extra):
    return [sys.executable, "-m", "llmrec", "bench", "--model", str(model), "--task", "rating",
            "--output", str(output), *extra]


def run(cmd, data_root):
    env = {**os.environ, "LLMREC_DATA_DIR": str(data_root)}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr
    return done


def only_run(output):
    (folder,) = output.iterdir()
    return folder


def lines(folder):
    return [json.loads(x) for x in (folder / "samples.jsonl").read_text().splitlines()]


def test_kill_9_midway_then_resume_equals_an_uninterrupted_run(tmp_path, tiny_dir, data_root):
    args = ("--limit", "600", "--batch-size", "16")
    run(bench_cmd(tiny_dir, tmp_path / "whole", *args), data_root)
    whole = only_run(tmp_path / "whole")

    env = {**os.environ, "LLMREC_DATA_DIR": str(data_root)}
    proc = subprocess.Popen(bench_cmd(tiny_dir, tmp_path / "killed", *args), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = None
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        runs = list((tmp_path / "killed").glob("*/samples.jsonl"))
        if runs and runs[0].stat().st_size and len(runs[0].read_bytes().splitlines()) >= 64:
            log = runs[0]
            break
        time.sleep(0.05)
    assert log is not None, "the run ended before it could be killed midway"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    recorded = len(log.read_bytes().splitlines())
    assert 64 <= recorded < 600
    assert not (log.parent / "metrics.json").exists()

    resumed = run(bench_cmd(tiny_dir, tmp_path / "killed", *args), data_root)
    assert "resuming" in resumed.stderr
    killed = only_run(tmp_path / "killed")
    ids = [r["sample_id"] for r in lines(killed)]
    assert len(ids) == len(set(ids)) == 600
    assert sorted(ids) == sorted(r["sample_id"] for r in lines(whole))
    expected = json.loads((whole / "metrics.json").read_text())["tasks"]
    assert json.loads((killed / "metrics.json").read_text())["tasks"] == expected


def test_batch_size_does_not_change_answers(tmp_path, tiny_dir, data_root):
    for batch in ("1", "16"):
        run(bench_cmd(tiny_dir, tmp_path / batch, "--limit", "20", "--batch-size", batch), data_root)
    one, sixteen = (lines(only_run(tmp_path / b)) for b in ("1", "16"))
    assert [r["raw"] for r in one] == [r["raw"] for r in sixteen]
    manifest = json.loads((only_run(tmp_path / "16") / "manifest.json").read_text())
    assert len(manifest["model_info"]["weight_hash"]) == 64 and manifest["model_info"]["chat_template_applied"]
