"""A task and a recommender from outside llmrec, one file each, run through `llmrec bench` like built-in ones."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from llmrec.data import prepare_for_run

PLUGINS = Path(__file__).parent / "plugins"

def llmrec(*args, env_extra=None, **kwargs):
    env = {**os.environ, "LLMREC_PLUGINS": f"{PLUGINS / 'toy_task.py'},{PLUGINS / 'toy_recommender.py'}",
           **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "llmrec", *args], capture_output=True, text=True, env=env, **kwargs)

def test_a_plugin_task_and_recommender_run_through_bench(tmp_path, data_root):
    done = llmrec("bench", "--model", "constant", "--task", "liked", "--model-args", "value=1",
                  "--output", str(tmp_path), env_extra={"LLMREC_DATA_DIR": str(data_root)})
    assert done.returncode == 0, done.stderr
    (folder,) = tmp_path.iterdir()
    entry = json.loads((folder / "metrics.json").read_text())["tasks"]["liked"]
    prepared = prepare_for_run("movielens-100k", seed=2023, candidates=100, cache_dir=data_root / "prepared")
    test = prepared.ratings[prepared.ratings["split"] == "test"].head(40)
    wrong = float((test["rating"] < 4).mean())  # answering 1 is wrong exactly for the ratings below 4
    assert entry["n_samples"] == 40 and entry["scoring"] == "classic"
    assert math.isclose(entry["metrics"]["rmse"]["value"], math.sqrt(wrong), rel_tol=1e-9)
    records = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    assert {r["prediction"]["value"] for r in records} == {1.0} and records[0]["prompt"] is None
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["identity"]["model"] == {"liked": {"value": 1.0}}

def test_plugins_are_listed_and_a_recommender_does_every_task_its_method_answers():
    tasks, models = llmrec("tasks"), llmrec("models")
    assert "liked" in tasks.stdout and "Say 1 if the user" in tasks.stdout
    row = next(line for line in models.stdout.splitlines() if line.startswith("constant"))
    assert "liked" in row and "rating" in row and "direct" not in row

def test_a_plugin_that_cannot_be_loaded_is_one_line_naming_it(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module_here\n")
    done = subprocess.run([sys.executable, "-m", "llmrec", "tasks"], capture_output=True, text=True,
                          env={**os.environ, "LLMREC_PLUGINS": str(broken)})
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert f"cannot load {broken}" in done.stderr and "no_such_module_here" in done.stderr
