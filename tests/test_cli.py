"""The command line itself: --version, --help stays light, each bench option reaches BenchConfig, bad values
exit 2 in one line, LLM options refused for classic models, did-you-mean for models and datasets, data list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmrec.cli import main


def run_cli(capsys, monkeypatch, *args) -> tuple[int, str, str]:
    """`llmrec ARGS` in this process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["llmrec", *map(str, args)])
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class FakeBench:
    """Stands in for the runner: records the configs the CLI builds, runs nothing."""

    configs: list = []

    def __init__(self, config):
        self.config = config
        self.folder = Path("not-run")
        FakeBench.configs.append(config)

    def run(self) -> dict:
        return {"model": self.config.model, "adapter": None, "tasks": {}}


@pytest.fixture
def fake_bench(monkeypatch):
    from llmrec.evaluation import runner
    from llmrec.reporting import summary

    FakeBench.configs = []
    monkeypatch.setattr(runner, "Bench", FakeBench)
    monkeypatch.setattr(summary, "print_comparison", lambda runs: None)
    return FakeBench.configs


def one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_version_prints_the_package_version():
    from llmrec import __version__

    done = subprocess.run([sys.executable, "-m", "llmrec", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == f"llmrec {__version__}\n"


def test_help_imports_no_heavy_library():
    code = ("import sys\nfrom llmrec.cli import app\ntry:\n    app(['bench', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'transformers', 'pandas', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_bench_help_groups_options_in_panels():
    done = subprocess.run([sys.executable, "-m", "llmrec", "bench", "--help"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0
    panels = [line.strip("╭─ ").split(" ─")[0] for line in done.stdout.splitlines() if line.startswith("╭─")]
    assert panels == ["Options", "Model and backend", "Data", "Prompt", "Output"]


def test_new_options_reach_bench_config(capsys, monkeypatch, fake_bench):
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "smollm2", "--task", "rating", "--device",
                           "cuda:1", "--dtype", "bfloat16", "--timeout", "5.5", "--max-retries", "2", "--kcore", "3")
    assert code == 0, err
    [config] = fake_bench
    assert (config.device, config.dtype, config.timeout, config.max_retries, config.kcore) == \
        ("cuda:1", "bfloat16", 5.5, 2, 3)
    assert config.resolved["device"] == "cuda:1" and config.resolved["max-retries"] == 2
    assert config.resolved["model"] == "smollm2" and config.resolved["task"] == "rating"


def test_defaults_reach_bench_config(capsys, monkeypatch, fake_bench):
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "smollm2", "--task", "rating")
    assert code == 0, err
    [config] = fake_bench
    assert (config.device, config.dtype, config.timeout, config.max_retries, config.kcore) == \
        ("auto", "auto", 60.0, 6, 5)


@pytest.mark.parametrize("option, expected", [
    (("--device", "gpu"), "--device: expected auto, cpu, cuda or cuda:N, got 'gpu'"),
    (("--device", "cuda:x"), "--device: expected auto, cpu, cuda or cuda:N, got 'cuda:x'"),
    (("--dtype", "fp8"), "--dtype: expected one of auto, float32, bfloat16, float16, got 'fp8'"),
    (("--timeout", "0"), "--timeout: expected a positive number of seconds, got 0.0"),
    (("--scoring", "best"), "--scoring: expected one of generate, likelihood, got 'best'"),
])
def test_bad_option_values_exit_2_in_one_line(capsys, monkeypatch, fake_bench, option, expected):
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "smollm2", "--task", "rating", *option)
    assert one_line_error(code, err) == f"error: {expected}"
    assert not fake_bench


@pytest.mark.parametrize("option", [("--dtype", "float16"), ("--timeout", "5"), ("--max-retries", "1")])
def test_llm_only_options_are_refused_for_classic_models(capsys, monkeypatch, fake_bench, option):
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "popularity", "--task", "rating", *option)
    line = one_line_error(code, err)
    assert line.startswith(f"error: {option[0]}: does not apply to classic model popularity")
    assert not fake_bench


def test_kcore_applies_to_classic_models_and_device_only_to_those_that_use_one(capsys, monkeypatch, fake_bench):
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "popularity", "--task", "rating", "--kcore", "10")
    assert code == 0, err
    assert fake_bench[0].kcore == 10
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "popularity", "--task", "rating", "--device", "cpu")
    assert one_line_error(code, err) == ("error: --device: does not apply to classic model popularity "
                                         "(it runs on the CPU)")
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "smollm2", "--task", "rating", "--device", "cpu")
    assert code == 0, err
    assert fake_bench[-1].device == "cpu"


def test_model_args_reach_the_recommender_and_are_refused_for_llms(capsys, monkeypatch, fake_bench):
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "itemknn", "--task", "direct",
                           "--model-args", "k=20")
    assert code == 0, err
    assert fake_bench[0].model_args == {"k": 20}
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "smollm2", "--task", "rating",
                           "--model-args", "k=20")
    assert one_line_error(code, err) == ("error: --model-args: does not apply to LLM smollm2 "
                                         "(only recommenders take options this way)")


@pytest.mark.parametrize("model, meant", [("smolm2", "smollm2"), ("popularty", "popularity"), ("itemkn", "itemknn"),
                                          ("SmolLM2", "smollm2")])
def test_a_mistyped_model_suggests_the_nearest(capsys, monkeypatch, fake_bench, model, meant):
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", model, "--task", "rating")
    assert one_line_error(code, err) == f"error: unknown model '{model}': did you mean {meant}?"
    assert not fake_bench


@pytest.mark.parametrize("args", [("--model", "gpt2"), ("--model", "org/smolm2"),
                                  ("--model", "smolm2", "--base-url", "http://localhost:9/v1"),
                                  ("--model", "smolm2", "--backend", "openai")])
def test_names_without_a_close_alias_or_meant_for_a_hub_or_server_go_on(capsys, monkeypatch, fake_bench, args):
    code, _, err = run_cli(capsys, monkeypatch, "bench", *args, "--task", "rating")
    assert code == 0, err
    assert fake_bench[0].model == args[1]


def test_an_existing_folder_is_taken_as_a_model(capsys, monkeypatch, fake_bench, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smolm2").mkdir()
    (tmp_path / "smolm2" / "config.json").write_text("{}")  # a model folder, checked before the run starts
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "smolm2", "--task", "rating")
    assert code == 0, err


def test_a_mistyped_dataset_suggests_the_nearest(capsys, monkeypatch, tmp_path):
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "popularity", "--task", "rating", "--dataset",
                           "movielens-100", "--output", tmp_path / "runs")
    assert one_line_error(code, err).startswith("error: unknown dataset 'movielens-100': did you mean movielens-100k?")
    assert not (tmp_path / "runs").exists()
    code, _, err = run_cli(capsys, monkeypatch, "data", "show", "amazn:/some/Beauty.json.gz")
    assert one_line_error(code, err).startswith("error: unknown dataset 'amazn:/some/Beauty.json.gz': "
                                                "did you mean amazon:/some/Beauty.json.gz?")


def test_data_prepare_and_show_take_kcore(capsys, monkeypatch):
    import llmrec.data
    from llmrec.errors import LLMRecError

    def refuse(name, **settings):
        raise LLMRecError(f"prepare {name} {json.dumps(settings, sort_keys=True)}")

    monkeypatch.setattr(llmrec.data, "prepare_dataset", refuse)
    for command in ("prepare", "show"):
        code, _, err = run_cli(capsys, monkeypatch, "data", command, "amazon:/x", "--kcore", "10")
        assert '"kcore": 10' in one_line_error(code, err) and '"negatives": 99' in err


def test_data_list_shows_datasets_formats_and_what_is_prepared(capsys, monkeypatch, data_root, prepared_cache):
    from llmrec.data import DATASETS, SOURCE_FORMATS, prepare_dataset

    prepared = prepare_dataset("movielens-100k", cache_dir=prepared_cache)
    (prepared_cache / ".movielens-100k-0123.tmp").mkdir(exist_ok=True)  # a preparation being written
    monkeypatch.setenv("LLMREC_DATA_DIR", str(data_root))
    code, out, err = run_cli(capsys, monkeypatch, "data", "list")
    assert code == 0, err
    for name in [*DATASETS, *SOURCE_FORMATS]:
        assert any(line.split()[0] == name for line in out.splitlines() if line.startswith("  ")), name
    assert f"prepared in {prepared_cache}:" in out
    folder = prepared_cache / f"movielens-100k-{prepared.fingerprint[:12]}"
    listed = [line for line in out.splitlines() if line.endswith(str(folder))]
    assert len(listed) == 1 and "seed 2023" in listed[0] and "negatives 99" in listed[0]
    assert ".tmp" not in out


def test_data_list_says_when_nothing_is_prepared(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("LLMREC_DATA_DIR", str(tmp_path))
    code, out, _ = run_cli(capsys, monkeypatch, "data", "list")
    assert code == 0 and f"prepared in {tmp_path / 'prepared'}: none yet" in out


def test_table_headers_name_how_the_answers_came():
    from llmrec.cli.bench import answered_by

    # recommenders' answers are all recorded as scoring "classic"; the header tells a trained model from a classic one
    assert [answered_by(m, s) for m, s in (("sasrec", "classic"), ("itemknn", "classic"), ("smollm2", "generate"),
                                           ("smollm2", "likelihood"))] == ["trained", "classic", "generate",
                                                                            "likelihood"]
