"""`--config FILE`: flags > file > defaults, one-line errors naming the file, the examples, and the config.yaml a
run (or an adapter) saves re-running it: the same run folder, resumed with nothing recomputed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from test_cli import fake_bench, one_line_error, run_cli  # noqa: E402,F401 - fake_bench is a fixture

EXAMPLES = Path(__file__).parent.parent / "examples"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_file_values_replace_defaults_and_flags_replace_file_values(capsys, monkeypatch, fake_bench, tmp_path):
    config = write(tmp_path / "c.yaml", "model: smollm2\ntask: rating\nlimit: 7\nseed: 11\nmax_new_tokens: 4\n"
                   "candidate-order: target-first\ntimeout: 30\n")
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--config", config, "--seed", "3", "--dtype", "float32")
    assert code == 0, err
    [c] = fake_bench
    assert (c.limit, c.max_new_tokens, c.candidate_order, c.timeout) == (7, 4, "target-first", 30.0)  # the file's
    assert (c.seed, c.dtype) == (3, "float32")  # the flags'
    assert (c.candidates, c.scoring, c.max_retries) == (100, "generate", 6)  # defaults
    assert c.resolved["seed"] == 3 and c.resolved["limit"] == 7 and c.resolved["candidate-order"] == "target-first"


def test_comma_options_may_be_yaml_lists(capsys, monkeypatch, fake_bench, tmp_path):
    config = write(tmp_path / "c.yaml", "model: [popularity, itemknn]\ntask: [direct]\n")
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--config", config)
    assert code == 0, err
    assert [c.model for c in fake_bench] == ["popularity", "itemknn"]
    assert all(c.resolved["model"] == c.model and c.resolved["task"] == "direct" for c in fake_bench)


@pytest.mark.parametrize("text, expected", [
    ("- smollm2\n", "c.yaml: expected a mapping of option names to values, got a list"),
    ("model: smollm2\nlimt: 3\n", "c.yaml: unknown option 'limt': did you mean limit?"),
    ("model: smollm2\ncandidate_ordr: shuffled\n", "c.yaml: unknown option 'candidate_ordr': did you mean "
                                                   "candidate-order?"),
    ("model: smollm2\nlimit: many\n", "c.yaml: limit: input should be a valid integer"),
    ("model: smollm2\nlimit: 0\n", "c.yaml: limit: input should be greater than or equal to 1"),
    ("model: smollm2\nlimit: true\n", "c.yaml: limit: expected an integer, got True"),
    ("model: smollm2\nfresh: 1\n", "c.yaml: fresh: expected true or false, got 1"),
    ("model: smollm2\ntemperature: [0, 1]\n", "c.yaml: temperature: expected a single value, got a list"),
    ("model: smollm2\ncandidates: null\n", "c.yaml: candidates: expected a value, got null"),
    ("model: smollm2\nmax-retries: 1\nmax_retries: 2\n",
     "c.yaml: option 'max_retries' is given twice (also as 'max-retries')"),
    ("model: smollm2\nconfig: other.yaml\n", "c.yaml: unknown option 'config'"),
    ("model: smollm2\n  bad: [\n", "c.yaml:2: not valid YAML"),
    ("model: smollm2\ndtype: fp8\n", "--dtype (set in c.yaml): expected one of auto, float32, bfloat16, float16"),
    ("model: smollm2\ndevice: gpu\n", "--device (set in c.yaml): expected auto, cpu, cuda or cuda:N, got 'gpu'"),
])
def test_config_errors_are_one_line_naming_the_file(capsys, monkeypatch, fake_bench, tmp_path, text, expected):
    config = write(tmp_path / "c.yaml", text)
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--config", config, "--task", "rating")
    line = one_line_error(code, err)
    assert line.startswith("error: " + expected.replace("c.yaml", str(tmp_path / "c.yaml")))
    assert not fake_bench


def test_a_missing_config_file_is_named(capsys, monkeypatch, fake_bench, tmp_path):
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--config", tmp_path / "none.yaml")
    assert one_line_error(code, err) == f"error: --config {tmp_path / 'none.yaml'}: no such file"


def test_a_bad_value_in_the_file_is_refused_even_where_a_flag_overrides_it(capsys, monkeypatch, fake_bench, tmp_path):
    config = write(tmp_path / "c.yaml", "model: smollm2\nlimit: -4\n")
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--config", config, "--limit", "3")
    assert "limit: input should be greater than or equal to 1" in one_line_error(code, err)


def test_model_is_required_from_the_flag_or_the_file(capsys, monkeypatch, fake_bench, tmp_path):
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--config", write(tmp_path / "c.yaml", "task: rating\n"))
    assert one_line_error(code, err).startswith("error: --model: expected a model name")


def test_llm_options_from_the_file_count_as_given_for_classic_models(capsys, monkeypatch, fake_bench, tmp_path):
    config = write(tmp_path / "c.yaml", "model: popularity\ntask: rating\ntemplate: few-shot\ntimeout: 9\n")
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--config", config)
    assert one_line_error(code, err) == (f"error: --template, --timeout (set in {config}): do not apply to classic "
                                         "model popularity (they are LLM options)")


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


def test_there_is_an_example_per_common_job():
    names = {p.stem for p in example_files()}
    assert {"demo", "references", "likelihood", "openai-server", "finetune-rating"} <= names


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_every_example_loads_and_validates(capsys, monkeypatch, fake_bench, tmp_path, path):
    """Each example goes through its command's option checks, with the run itself replaced."""
    import llmrec.finetune

    text = path.read_text()
    assert text.startswith("# ") and isinstance(yaml.safe_load(text), dict)
    trained = []
    monkeypatch.setattr(llmrec.finetune, "finetune", lambda config: trained.append(config) or (config.output, {}))
    monkeypatch.chdir(tmp_path)
    command = "finetune" if path.stem.startswith("finetune") else "bench"
    code, _, err = run_cli(capsys, monkeypatch, command, "--config", path)
    assert code == 0, err
    assert len(trained if command == "finetune" else fake_bench) >= 1
    if command == "finetune":
        assert yaml.safe_load((trained[0].output / "config.yaml").read_text())["model"] == "smollm2"


def test_the_demo_example_is_what_make_demo_runs(capsys, monkeypatch, fake_bench):
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--config", EXAMPLES / "demo.yaml")
    assert code == 0, err
    assert [c.model for c in fake_bench] == ["smollm2", "popularity", "itemknn", "mf", "lead", "sasrec"]
    assert {c.limit for c in fake_bench} == {50}
    assert [t.name for t in fake_bench[0].tasks] == ["rating", "sequential", "direct", "explanation", "review"]


# ---- re-running a saved config.yaml: real runs ----------------------------------------------------


def test_a_run_folders_config_reruns_the_same_run(capsys, monkeypatch, tmp_path, data_root):
    monkeypatch.setenv("LLMREC_DATA_DIR", str(data_root))
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "popularity", "--task", "direct,rating",
                           "--limit", "5", "--candidates", "20")
    assert code == 0, err
    [folder] = list((tmp_path / "results/runs").iterdir())
    saved = yaml.safe_load((folder / "config.yaml").read_text())
    assert saved["model"] == "popularity" and saved["task"] == "direct,rating" and saved["candidates"] == 20
    assert "fresh" not in saved and "template" not in saved  # classic: no LLM options, so re-running is allowed
    samples = (folder / "samples.jsonl").read_bytes()
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--config", folder / "config.yaml")
    assert code == 0, err
    assert f"resuming {Path('results/runs') / folder.name}: 10 samples already recorded" in err
    assert list((tmp_path / "results/runs").iterdir()) == [folder]
    assert (folder / "samples.jsonl").read_bytes() == samples
    assert yaml.safe_load((folder / "config.yaml").read_text()) == saved


@pytest.mark.slow
def test_an_llm_run_folders_config_reruns_the_same_run(capsys, monkeypatch, tmp_path, data_root):
    from llmrec.evaluation import predictors

    monkeypatch.setenv("LLMREC_DATA_DIR", str(data_root))
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "smollm2", "--task", "rating", "--limit", "2",
                           "--max-new-tokens", "4", "--output", tmp_path / "runs", "--device", "cpu")
    assert code == 0, err
    [folder] = list((tmp_path / "runs").iterdir())
    saved = yaml.safe_load((folder / "config.yaml").read_text())
    assert saved["max-new-tokens"] == 4 and saved["template"] is None and saved["device"] == "cpu"
    monkeypatch.setattr(predictors.LLMPredictor, "load",
                        lambda *a: pytest.fail("the model was loaded to resume a finished run"))
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--config", folder / "config.yaml")
    assert code == 0, err
    assert "2 samples already recorded" in err and list((tmp_path / "runs").iterdir()) == [folder]


def test_finetune_saves_its_config_and_resumes_from_it(tmp_path, data_root):
    from llmrec.backends.models import smollm2_folder
    from tiny_model import build_tiny_llama

    tiny = build_tiny_llama(tmp_path / "tiny", smollm2_folder()[0], seed=0)
    out = tmp_path / "adapter"
    env = {**os.environ, "LLMREC_DATA_DIR": str(data_root)}

    def finetune(*args):
        return subprocess.run([sys.executable, "-m", "llmrec", "finetune", *map(str, args)], capture_output=True,
                              text=True, env=env, timeout=600)

    first = finetune("--model", tiny, "--task", "rating", "--limit", "4", "--val-size", "2", "--max-steps", "2",
                     "--batch-size", "2", "--grad-accum", "1", "--save-steps", "1", "--eval-steps", "1",
                     "--output", out)
    assert first.returncode == 0, first.stderr
    saved_text = (out / "config.yaml").read_text()
    saved = yaml.safe_load(saved_text)
    assert saved["model"] == str(tiny) and saved["max-steps"] == 2 and saved["output"] == str(out)
    assert saved["target-modules"] == "q_proj,v_proj" and "resume" not in saved

    (out / "llmrec-adapter.json").unlink()  # as if interrupted after its last checkpoint: not finished
    again = finetune("--config", out / "config.yaml", "--resume")
    assert again.returncode == 0, again.stderr
    assert "resuming from" in again.stderr and "checkpoint-2" in again.stderr

    refused = finetune("--config", out / "config.yaml")  # without --resume: the folder holds a run
    assert "already holds a finetuning run" in one_line_error(refused.returncode, refused.stderr)
    other = finetune("--config", out / "config.yaml", "--resume", "--lr", "0.001")  # the flag wins, and differs
    assert "--resume with other settings (lr)" in one_line_error(other.returncode, other.stderr)
    assert (out / "config.yaml").read_text() == saved_text  # a refused call leaves it as it was
