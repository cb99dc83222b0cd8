"""A run is identified by the content of what shapes it: a changed template file or changed weights never
resume into answers recorded under the old ones; options a model cannot take are refused, not ignored."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmrec.errors import LLMRecError
from llmrec.evaluation.runner import Bench, BenchConfig
from llmrec.tasks import parse_task_list
from tiny_model import build_tiny_llama

PROMPTS = Path(__file__).resolve().parents[1] / "prompts"


@pytest.fixture(scope="module")
def tokenizer_dir():
    from llmrec.backends.models import smollm2_folder

    return smollm2_folder()[0]


def bench(data_root, *args):
    env = {**os.environ, "LLMREC_DATA_DIR": str(data_root)}
    return subprocess.run([sys.executable, "-m", "llmrec", "bench", *args], capture_output=True, text=True,
                          timeout=900, env=env)


def records(folder: Path) -> list[dict]:
    return [json.loads(x) for x in (folder / "samples.jsonl").read_text().splitlines()]


def test_an_edited_template_never_reuses_the_answers_to_the_old_wording(tmp_path, tokenizer_dir, data_root):
    model = build_tiny_llama(tmp_path / "tiny", tokenizer_dir)
    template = tmp_path / "mine.yaml"
    template.write_text((PROMPTS / "rating" / "zero-shot.yaml").read_text())
    args = ("--model", str(model), "--task", "rating", "--limit", "4", "--template", str(template),
            "--output", str(tmp_path / "runs"))
    first = bench(data_root, *args)
    assert first.returncode == 0, first.stderr
    (old,) = (tmp_path / "runs").iterdir()
    template.write_text(template.read_text().replace("How will user rate", "How would this user rate"))
    second = bench(data_root, *args)
    assert second.returncode == 0, second.stderr
    assert "resuming" not in second.stderr
    (new,) = set((tmp_path / "runs").iterdir()) - {old}
    assert all("How would this user rate" in r["prompt"] for r in records(new))
    assert all("How will user rate" in r["prompt"] for r in records(old))
    hashes = [json.loads((f / "metrics.json").read_text())["tasks"]["rating"]["template_hash"] for f in (old, new)]
    assert hashes[0] != hashes[1]


def test_weights_changed_in_the_same_folder_start_a_new_run(tmp_path, tokenizer_dir, data_root):
    model = tmp_path / "tiny"
    args = ("--model", str(model), "--task", "rating", "--limit", "2", "--output", str(tmp_path / "runs"))
    build_tiny_llama(model, tokenizer_dir, seed=0)
    assert bench(data_root, *args).returncode == 0
    build_tiny_llama(model, tokenizer_dir, seed=1)
    again = bench(data_root, *args)
    assert again.returncode == 0 and "resuming" not in again.stderr
    assert len(list((tmp_path / "runs").iterdir())) == 2


@pytest.mark.parametrize("option", [("--template", "few-shot"), ("--shots", "3"), ("--max-new-tokens", "8"),
                                    ("--temperature", "0.5")])
def test_an_llm_option_given_to_a_classic_model_is_refused_in_one_line(tmp_path, data_root, option):
    done = bench(data_root, "--model", "popularity", "--task", "direct", *option, "--output", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "does not apply to classic model popularity" in done.stderr
    assert not any(tmp_path.iterdir())  # refused before anything was written


def plan(data_root, **options):
    config = BenchConfig(model="smollm2", tasks=parse_task_list("rating"), data_dir=data_root / "prepared",
                         limit=3, **options)
    bench_ = Bench(config)
    return bench_._plan(config.tasks[0])


def test_few_shot_renders_the_templates_declared_examples_and_refuses_to_render_none(data_root):
    planned = plan(data_root, template="few-shot")
    samples, meta = planned.samples, planned.meta
    assert meta["shots"] == 3 and all(len(s.variables["examples"]) == min(3, len(s.variables["history"]))
                                      for s in samples)
    with pytest.raises(Exception, match="shows solved examples"):
        plan(data_root, template="few-shot", shots=0)
    with pytest.raises(Exception, match="shows no solved examples"):
        plan(data_root, template="zero-shot", shots=2)


def test_an_adapter_brings_the_template_it_was_trained_with(tmp_path, data_root):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "llmrec-adapter.json").write_text(json.dumps({"template": {"name": "p5-sft", "sha256": {}}}))
    config = BenchConfig(model="smollm2", tasks=parse_task_list("rating"), adapter=str(adapter))
    assert Bench(config).predictor.setup(config.tasks[0])["template"].name == "p5-sft"
    config.template = "zero-shot"  # an explicit --template wins
    assert Bench(config).predictor.setup(config.tasks[0])["template"].name == "zero-shot"
    (adapter / "llmrec-adapter.json").write_text(json.dumps({"datasets": {"rating": "movielens-100k"}}))
    with pytest.raises(LLMRecError, match=r"llmrec-adapter.json: \"datasets\" should map each task to an object"):
        Bench(config).predictor.setup(config.tasks[0])


def test_the_sampling_seed_moves_only_the_sampled_answers(tmp_path, tokenizer_dir, data_root):
    model = build_tiny_llama(tmp_path / "tiny", tokenizer_dir)
    args = ("--model", str(model), "--task", "review", "--limit", "4", "--temperature", "1.5",
            "--max-new-tokens", "12", "--output", str(tmp_path / "runs"))
    runs = {}
    for seed in ("1", "2"):
        done = bench(data_root, *args, "--sampling-seed", seed)
        assert done.returncode == 0, done.stderr
        runs[seed] = max((tmp_path / "runs").iterdir(), key=lambda f: f.stat().st_mtime)
    a, b = (records(runs[s]) for s in ("1", "2"))
    assert [r["sample_id"] for r in a] == [r["sample_id"] for r in b]
    assert [r["prompt"] for r in a] == [r["prompt"] for r in b]  # the same samples, the same prompts
    assert [r["raw"] for r in a] != [r["raw"] for r in b]
    entry = json.loads((runs["2"] / "metrics.json").read_text())["tasks"]["review"]
    assert entry["sampling_seed"] == 2 and entry["seed"] == 2023
    refused = bench(data_root, "--model", "popularity", "--task", "direct", "--sampling-seed", "3")
    assert refused.returncode == 2 and "--sampling-seed: does not apply to classic model" in refused.stderr
