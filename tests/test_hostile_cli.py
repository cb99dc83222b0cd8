"""Hostile and careless input to the command line: templates, config files, baselines, run records,
destinations, option errors, failed starts and over-long reviews. Each bad input is one line `error: ...`
naming the file (and line) or option, exit 2, and nothing written; the fuzz tests generate corruptions with
hypothesis and hold every one of them to that (or to loading into a valid result)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_cli import one_line_error, run_cli

from llmrec.errors import LLMRecError
from llmrec.prompts import PROMPTS_DIR, load_template

BASELINES = Path(__file__).parent.parent / "results" / "baselines"


def fuzz(examples: int):
    """Deterministic, bounded fuzzing: each test's examples keep the whole file's run to seconds. The fixtures'
    folders are shared by a test's examples; each example rewrites the one file it reads."""
    return settings(max_examples=examples, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def tree(folder: Path) -> list[str]:
    """Every path under `folder` (what a command wrote), for checking that nothing was."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A fresh working folder whose data and run folders start empty."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLMREC_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


# ---- templates -------------------------------------------------------------------------------------------

ZERO_SHOT = (PROMPTS_DIR / "rating" / "zero-shot.yaml").read_text()


def template_file(folder: Path, text: str | bytes, name: str = "t.yaml") -> Path:
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# 9 ** 9 strings once its aliases are expanded: a message must never show it whole
ALIAS_BOMB = "stop:\n  - &a [" + ", ".join(["lol"] * 9) + "]\n" + "".join(
    f"  - &{b} [{', '.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefg", "bcdefgh")) + "  - [" + ", ".join(
    ["*h"] * 9) + "]\n"


def with_key(key: str, value: str) -> str:
    lines = [line for line in ZERO_SHOT.splitlines() if not line.startswith(f"{key}:")]
    return "\n".join(lines + [f"{key}: {value}"]) + "\n"


@pytest.mark.parametrize("text, expected", [
    ("- a\n- b\n", "t.yaml: expected a mapping of template keys (task_description, behaviour, format_indicator, "
                   "prompt, ...), got a list"),
    ("just words\n", "t.yaml: expected a mapping of template keys"),
    ("", "t.yaml: expected a mapping of template keys (task_description, behaviour, format_indicator, prompt, ...), "
         "got nothing"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "t.yaml:1: not UTF-8 text (byte 0x89)"),
    (with_key("max_new_tokens", "lots"), "t.yaml:8: 'max_new_tokens' should be a whole number of tokens, at least 1, "
                                         "got 'lots'"),
    (with_key("max_new_tokens", "0"), "t.yaml:8: 'max_new_tokens' should be a whole number of tokens"),
    (with_key("stop", "5"), "t.yaml:9: 'stop' should be a stop string or a list of non-empty stop strings, got 5"),
    (with_key("stop", "[5, x]"), "t.yaml:9: 'stop' should be a stop string or a list"),
    (with_key("chat", "maybe"), "t.yaml:8: 'chat' should be true or false, got 'maybe'"),
    (with_key("shots", "-1"), "t.yaml:9: 'shots' should be a whole number of solved examples"),
    (with_key("prompt", "[1]"), "t.yaml:8: 'prompt' should be text, got [1]"),
    (with_key("max_new_token", "8"), "t.yaml:9: unknown key 'max_new_token': did you mean max_new_tokens?"),
    (with_key("answer", "'{{ reference'"), "t.yaml:8: 'answer' is not a valid Jinja2 template"),
    ("prompt: [\n", "t.yaml:2: not valid YAML"),
    ("[" * 20_000, "t.yaml: not valid YAML (nested too deeply)"),
    (ALIAS_BOMB, "t.yaml:1: 'stop' should be a stop string or a list of non-empty stop strings, got [['lol', "),
])
def test_a_bad_template_is_one_line_naming_file_and_key_and_nothing_is_written(capsys, monkeypatch, isolated,
                                                                                 text, expected):
    path = template_file(isolated, text)
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "smollm2", "--task", "rating", "--limit", "2",
                           "--template", path)
    assert one_line_error(code, err).startswith("error: " + expected.replace("t.yaml", str(path)))
    assert tree(isolated) == ["t.yaml"]


def test_one_stop_string_is_one_stop_and_null_means_none(tmp_path):
    one = load_template("rating", str(template_file(tmp_path, with_key("stop", "abc"), "one.yaml")))
    listed = load_template("rating", str(template_file(tmp_path, with_key("stop", '["###", "\\n"]'), "two.yaml")))
    none = load_template("rating", str(template_file(tmp_path, with_key("stop", "null"), "none.yaml")))
    assert (one.stop, listed.stop, none.stop) == (("abc",), ("###", "\n"), ())


def test_every_shipped_template_still_loads_as_before():
    spec = yaml.safe_load((PROMPTS_DIR / "review" / "zero-shot.yaml").read_text())
    template = load_template("review", "zero-shot")
    assert template.stop == tuple(spec["stop"]) and template.max_new_tokens == spec["max_new_tokens"]
    assert all(load_template(t, n) for t in ("rating", "sequential", "direct", "explanation", "review")
               for n in ("zero-shot", "few-shot", "p5-sft"))


# ---- config files ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("data, expected", [
    (b"model: popularity\nlimit: \xff\n", "c.yaml:2: not UTF-8 text (byte 0xff)"),
    (b"\x00\x01\x02", "c.yaml"),
    (b"model: popularity\ntemperature: .nan\n", "c.yaml: temperature: input should be greater than or equal to 0"),
])
def test_a_bad_config_file_is_one_line_naming_it(capsys, monkeypatch, isolated, data, expected):
    path = template_file(isolated, data, "c.yaml")
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--config", path, "--task", "rating")
    assert one_line_error(code, err).startswith("error: " + expected.replace("c.yaml", str(path)))
    assert tree(isolated) == ["c.yaml"]


def test_a_config_that_is_no_regular_file_or_an_alias_bomb_is_one_line(capsys, monkeypatch, isolated):
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--config", "/dev/null")
    assert one_line_error(code, err) == "error: --config /dev/null: not a regular file"
    path = template_file(isolated, ALIAS_BOMB.replace("stop:", "model:"), "c.yaml")
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--config", path)
    assert one_line_error(code, err) == f"error: {path}: model: expected a single value, got a list"


@pytest.mark.parametrize("text, expected", [
    ("model: popularity\ntask: d\n", "--task (set in c.yaml): unknown task 'd'"),
    ("model: popularity\ntask: []\n", "--task (set in c.yaml): expected a task name"),
    ("model: smolm2\n", "--model (set in c.yaml): unknown model 'smolm2': did you mean smollm2?"),
    ("model: popularity\ntask: direct\ndataset: movielens-100\n",
     "--dataset (set in c.yaml): unknown dataset 'movielens-100': did you mean movielens-100k?"),
])
def test_a_bad_name_in_a_config_file_names_the_file(capsys, monkeypatch, isolated, text, expected):
    path = template_file(isolated, text, "c.yaml")
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--config", path)
    assert one_line_error(code, err).startswith("error: " + expected.replace("c.yaml", str(path)))
    assert tree(isolated) == ["c.yaml"]


# ---- option errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, expected", [
    (("bench", "--limit", "abc", "--model", "popularity"), "error: Invalid value for '--limit'"),
    (("bench", "--nope"), "error: No such option: --nope"),
    (("report", "--format"), "error: Option '--format' requires an argument."),
    (("frobnicate",), "error: No such command 'frobnicate'."),
    (("compare",), "error: Missing argument 'RUN_A RUN_B'."),
    (("bench", "--model", "popularity", "--temperature", "nan"), "error: Invalid value for '--temperature'"),
])
def test_option_errors_are_one_line_exit_2_not_a_box(capsys, monkeypatch, isolated, args, expected):
    code, out, err = run_cli(capsys, monkeypatch, *args)
    assert one_line_error(code, err).startswith(expected) and not out
    assert "╭" not in err and tree(isolated) == []


def test_help_and_exit_codes_of_commands_are_kept(capsys, monkeypatch, isolated):
    assert run_cli(capsys, monkeypatch, "--version")[0] == 0
    code, out, _ = run_cli(capsys, monkeypatch, "bench", "--help")
    assert code == 0 and "--truncation" in out
    baseline = BASELINES / "mf.json"
    assert run_cli(capsys, monkeypatch, "check", "--baseline", baseline, "--current", baseline)[0] == 0
    assert run_cli(capsys, monkeypatch, "check", "--baseline", baseline,
                   "--current", BASELINES / "itemknn.json")[0] == 2


def test_an_interrupt_says_the_records_are_kept_and_exits_130(capsys, monkeypatch, isolated):
    from llmrec.evaluation import runner

    class Interrupted:
        def __init__(self, config):
            self.config, self.folder = config, None

        def run(self):
            raise KeyboardInterrupt

    monkeypatch.setattr(runner, "Bench", Interrupted)
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "popularity", "--task", "direct")
    assert code == 130 and err.strip().splitlines()[-1] == ("interrupted: recorded samples are kept; run the same "
                                                            "command again to resume")


# ---- destinations ----------------------------------------------------------------------------------------

def test_unwritable_run_and_data_folders_are_refused_before_any_work(capsys, monkeypatch, isolated):
    (isolated / "afile").write_text("")
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "popularity", "--task", "direct",
                           "--output", "afile/runs")
    assert one_line_error(code, err) == "error: --output afile/runs: afile is a file, not a folder"
    monkeypatch.setenv("LLMREC_DATA_DIR", "afile/data")
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "popularity", "--task", "direct",
                           "--output", "runs")
    assert one_line_error(code, err) == "error: LLMREC_DATA_DIR afile/data: afile is a file, not a folder"
    assert tree(isolated) == ["afile"]


@pytest.mark.parametrize("args, expected", [
    (("data", "prepare", "movielens-100k"), "LLMREC_DATA_DIR afile/data: afile is a file, not a folder"),
    (("data", "show", "movielens-100k"), "LLMREC_DATA_DIR afile/data: afile is a file, not a folder"),
    (("finetune", "--model", "smollm2", "--task", "rating", "--output", "afile/adapter"),
     "--output afile/adapter: afile is a file, not a folder"),
])
def test_data_and_finetune_destinations_are_checked_too(capsys, monkeypatch, isolated, args, expected):
    (isolated / "afile").write_text("")
    monkeypatch.setenv("LLMREC_DATA_DIR", "afile/data")
    code, _, err = run_cli(capsys, monkeypatch, *args)
    assert one_line_error(code, err) == f"error: {expected}" and tree(isolated) == ["afile"]


def test_report_and_check_destinations_that_cannot_be_written_leave_nothing(capsys, monkeypatch, isolated):
    (isolated / "afile").write_text("")
    (isolated / "adir").mkdir()
    baseline = BASELINES / "mf.json"
    for target, expected in (("adir", "adir: is a folder; expected a file path to write"),
                             ("afile/r.md", "afile/r.md: cannot write (afile is a file, not a folder)")):
        code, out, err = run_cli(capsys, monkeypatch, "report", baseline, "-o", target)
        assert one_line_error(code, err) == f"error: {expected}"
    code, out, err = run_cli(capsys, monkeypatch, "check", "--baseline", "afile/b.json", "--current", baseline,
                             "--update")
    assert one_line_error(code, err) == "error: afile/b.json: cannot write (afile is a file, not a folder)"
    code, out, err = run_cli(capsys, monkeypatch, "check", "--baseline", "adir", "--current", baseline, "--update")
    assert one_line_error(code, err) == "error: adir: is a folder; expected a file path to write"
    assert tree(isolated) == ["adir", "afile"]  # no temp file left next to either


def test_a_destination_without_permission_is_one_line(tmp_path, monkeypatch):
    from llmrec import files

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(files, "_create_temp", denied)
    with pytest.raises(LLMRecError, match=rf"^{tmp_path / 'r.md'}: cannot write \(Permission denied\)$"):
        files.write_text(tmp_path / "r.md", "report")
    monkeypatch.setattr(files.os, "access", lambda path, mode: False)
    with pytest.raises(LLMRecError, match=rf"^--output {tmp_path / 'runs'}: {tmp_path} is not writable$"):
        files.check_writable_folder(tmp_path / "runs", "--output")
    assert tree(tmp_path) == []


# ---- failed starts ---------------------------------------------------------------------------------------

def test_an_incompatible_model_and_task_is_refused_before_any_data_is_prepared(capsys, monkeypatch, isolated):
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "popularity", "--task", "rating,explanation",
                           "--limit", "2")
    assert "does not do the explanation task" in one_line_error(code, err)
    assert tree(isolated) == []


def test_a_missing_adapter_or_bad_template_of_a_later_model_is_refused_before_any_work(capsys, monkeypatch,
                                                                                       isolated):
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "smollm2", "--task", "rating", "--limit", "2",
                           "--adapter", isolated / "none")
    assert "--adapter" in one_line_error(code, err) and tree(isolated) == []
    template_file(isolated, "- not a template\n", "bad.yaml")
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "popularity,smollm2", "--task", "rating",
                           "--limit", "2", "--template", "bad.yaml")
    assert "bad.yaml: expected a mapping" in one_line_error(code, err)
    assert tree(isolated) == ["bad.yaml"]  # popularity did not run first


def test_a_run_that_fails_to_start_leaves_no_run_folder(capsys, monkeypatch, isolated, data_root):
    monkeypatch.setenv("LLMREC_DATA_DIR", str(data_root))
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "served", "--base-url", "http://127.0.0.1:9/v1",
                           "--max-retries", "0", "--timeout", "5", "--task", "rating", "--limit", "2",
                           "--output", "results/runs")
    assert code == 2, err
    assert err.strip().splitlines()[-1].startswith("error: ")
    assert tree(isolated) == []  # neither the run folder nor results/ that was made for it


def test_a_failed_start_keeps_a_folder_that_holds_records(tmp_path):
    from llmrec.records import discard_unstarted

    runs = tmp_path / "runs"
    started, unstarted = runs / "a", runs / "b"
    for folder in (started, unstarted):
        (folder / "models").mkdir(parents=True)
        (folder / "config.yaml").write_text("model: x\n")
        (folder / "samples.jsonl").write_text("")
    (started / "samples.jsonl").write_text('{"task": "rating"}\n')
    discard_unstarted(started, keep=tmp_path)
    discard_unstarted(unstarted, keep=tmp_path)
    assert tree(runs) == ["a", "a/config.yaml", "a/models", "a/samples.jsonl"]


# ---- resuming a run folder with broken records ----------------------------------------------------------

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, data_root):
    """A finished popularity run of 5 direct samples (its folder is copied before each test breaks it)."""
    from llmrec.evaluation.runner import Bench, BenchConfig
    from llmrec.tasks import parse_task_list

    config = BenchConfig(model="popularity", tasks=parse_task_list("direct"), limit=5, candidates=20,
                         output=tmp_path_factory.mktemp("finished") / "runs", data_dir=data_root / "prepared")
    runner = Bench(config)
    runner.run()
    return runner.folder


def resume(capsys, monkeypatch, folder: Path, data_root: Path) -> tuple[int, str, str]:
    monkeypatch.setenv("LLMREC_DATA_DIR", str(data_root))
    return run_cli(capsys, monkeypatch, "bench", "--model", "popularity", "--task", "direct", "--limit", "5",
                   "--candidates", "20", "--output", folder.parent)


def broken_copy(finished_run: Path, tmp_path: Path, name: str, edit, resumed) -> Path:
    """A copy of the finished run, resumed once through the CLI (which adds its config.yaml), then broken."""
    folder = tmp_path / "runs" / finished_run.name
    shutil.copytree(finished_run, folder)
    assert resumed(folder)[0] == 0
    (folder / "metrics.json").unlink()  # so resuming reads the records again
    path = folder / name
    path.write_bytes(edit(path.read_bytes()))
    return folder


def first_line(edit):
    def apply(data: bytes) -> bytes:
        lines = data.splitlines(keepends=True)
        return edit(lines[0]) + b"".join(lines[1:])

    return apply


@pytest.mark.parametrize("name, edit, expected", [
    ("samples.jsonl", first_line(lambda line: line.replace(b'"direct"', b'"dir\xe9ct"')),
     "samples.jsonl:1: expected a JSON sample record with task, sample_id, prediction and reference (bytes that "
     "are not UTF-8)"),
    ("samples.jsonl", first_line(lambda line: line.replace(b'"prediction": ', b'"p": ')),
     "samples.jsonl:1: expected a JSON sample record with task, sample_id, prediction and reference; fix"),
    ("samples.jsonl", first_line(lambda line: b"[1, 2]\n"), "samples.jsonl:1: expected a JSON sample record"),
    ("samples.jsonl", first_line(lambda line: line.replace(b'"value": [', b'"value": ["x", ')),
     "samples.jsonl:1: expected a JSON sample record with task, sample_id, prediction and reference (prediction: "
     "value: expected a list of item ids"),
    ("samples.jsonl", first_line(lambda line: line.replace(b'"reference": ', b'"reference": "t", "r": ')),
     "(reference: expected an item id, got 't')"),
    ("samples.jsonl", first_line(lambda line: line.replace(b'"parse_failed": false', b'"parse_failed": 3')),
     "(prediction: parse_failed: got 3)"),
    ("samples.jsonl", first_line(lambda line: b"[" * 100_000 + b"\n"), "samples.jsonl:1: expected a JSON sample"),
    ("samples.jsonl", lambda data: b"\xff\n" + data + b'{"task": "dir', "samples.jsonl:1: expected a JSON sample"),
    ("manifest.json", lambda data: b"\xff\xfe" + data, "manifest.json: cannot read"),
    ("manifest.json", lambda data: b"[]", "manifest.json: expected a JSON object (the run's manifest); fix it, or "
                                          "re-run with --fresh"),
    ("manifest.json", lambda data: data.replace(b'"wall_time_s": ', b'"wall_time_s": "soon", "w": '),
     "manifest.json: wall_time_s should be a number of seconds, found 'soon'"),
    ("manifest.json", lambda data: data.replace(b'"model_info": {', b'"model_info": [], "m": {'),
     "manifest.json: \"model_info\" should be an object, found []"),
])
def test_resuming_broken_records_is_one_line_naming_the_file(capsys, monkeypatch, tmp_path, finished_run, data_root,
                                                             name, edit, expected):
    folder = broken_copy(finished_run, tmp_path, name, edit, lambda f: resume(capsys, monkeypatch, f, data_root))
    before = {p: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    code, _, err = resume(capsys, monkeypatch, folder, data_root)
    line = one_line_error(code, err)
    assert str(folder / name) in line and expected in line
    assert {p: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before


def test_a_failed_sample_record_is_asked_again_on_resume(capsys, monkeypatch, tmp_path, finished_run, data_root):
    def failed_first(data: bytes) -> bytes:
        lines = data.splitlines(keepends=True)
        first = json.loads(lines[0])
        failed = {k: first[k] for k in ("task", "sample_id", "user", "item")} | {"failed": "HTTP 500"}
        return (json.dumps(failed) + "\n").encode() + b"".join(lines[1:])

    folder = broken_copy(finished_run, tmp_path, "samples.jsonl", failed_first,
                         lambda f: resume(capsys, monkeypatch, f, data_root))
    code, _, err = resume(capsys, monkeypatch, folder, data_root)
    assert code == 0 and "4 samples already recorded, 1 failed ones to ask again" in err, err


def test_resuming_intact_records_reuses_them(capsys, monkeypatch, tmp_path, finished_run, data_root):
    folder = broken_copy(finished_run, tmp_path, "samples.jsonl", lambda data: data,
                         lambda f: resume(capsys, monkeypatch, f, data_root))
    code, _, err = resume(capsys, monkeypatch, folder, data_root)
    assert code == 0 and "5 samples already recorded" in err, err


# ---- the review that does not fit ------------------------------------------------------------------------

class WordCounting:
    """A backend stand-in with a small context whose tokens are words."""

    context_length = 60

    def prompt_tokens(self, prompt: str, chat: bool) -> int:
        return len(prompt.split())


def review_sample(words: int):
    from llmrec.types import Sample

    review = " ".join(f"w{i}" for i in range(words))
    variables = {"user": 1, "item": 1, "title": "T", "review": review, "summaries": ["a b", "c d"], "examples": []}
    return Sample("review", "u1-i1", 1, 1, variables, "ref")


def render(truncation: str, sample, task_name: str = "review"):
    from llmrec.evaluation.predictors import LLMPredictor
    from llmrec.evaluation.runner import BenchConfig
    from llmrec.tasks import TASKS

    task = TASKS.get(task_name)
    predictor = LLMPredictor(BenchConfig(model="smollm2", tasks=[task], truncation=truncation))
    predictor.backend = WordCounting()
    return predictor.render(task, load_template(task_name, "zero-shot"), sample)


def test_an_over_long_review_is_cut_to_fit_with_truncation_text():
    prompt, dropped, cut = render("text", review_sample(200))
    budget = WordCounting.context_length - load_template("review", "zero-shot").max_new_tokens
    assert len(prompt.split()) <= budget and len(prompt.split()) >= budget - 1  # as much review as fits
    assert dropped == 2 and cut == 200 - len(re.findall(r"\bw\d+\b", prompt))
    assert '"w0 w1 ' in prompt and "w199" not in prompt


def test_an_over_long_review_stops_the_run_without_truncation_text_and_says_how_to_cut():
    with pytest.raises(LLMRecError, match=r"prompt takes \d+ tokens even with no history; the model's context "
                                          r"leaves 36 \(--truncation text cuts the review itself\)$"):
        render("history", review_sample(200))
    with pytest.raises(LLMRecError, match=r"more than the 36 the model's context leaves"):
        render("error", review_sample(200))


def test_a_review_that_fits_is_left_whole_by_every_policy():
    whole = render("history", review_sample(5))
    assert render("text", review_sample(5)) == render("error", review_sample(5)) == whole and whole[1:] == (0, 0)


@given(st.text(alphabet=st.sampled_from("ab \n"), max_size=40), st.integers(0, 50))
@fuzz(100)
def test_cut_to_fit_keeps_the_longest_start_in_whole_words(text, room):
    from llmrec.tasks.text import cut_to_fit

    kept, cut = cut_to_fit(text, lambda t: len(t) <= room)
    words = text.split()
    assert text.startswith(kept) and len(kept) <= room and kept.split() == words[:len(kept.split())]
    assert cut == len(words) - len(kept.split())
    if cut:
        longer = text[:text.index(words[len(kept.split())], len(kept)) + len(words[len(kept.split())])]
        assert len(longer) > room  # one more word would not fit


# ---- fuzzing: templates, configs, baselines, run records ------------------------------------------------

YAML_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-10, 10**20) | st.floats() | st.text(max_size=12),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                       max_size=3), max_leaves=6)
TEMPLATE_KEYS = st.sampled_from(["about", "chat", "max_new_tokens", "shots", "stop", "task_description",
                                 "behaviour", "format_indicator", "prompt", "answer", "other"])


def corrupted_bytes(valid: bytes) -> st.SearchStrategy[bytes]:
    """A valid file cut short, with bytes flipped or inserted, or replaced by random bytes."""
    cut = st.integers(0, len(valid)).map(lambda n: valid[:n])
    flipped = st.tuples(st.integers(0, len(valid) - 1), st.binary(min_size=1, max_size=4)).map(
        lambda p: valid[:p[0]] + p[1] + valid[p[0] + 1:])
    return cut | flipped | st.binary(max_size=64)


def mutated_yaml(valid: dict, keys) -> st.SearchStrategy[bytes]:
    """The file with some keys set to random values (or removed), written as YAML or as corrupted bytes."""
    edits = st.dictionaries(keys, YAML_VALUES | st.just("<removed>"), max_size=3)

    def write(edit: dict) -> bytes:
        spec = {k: v for k, v in {**valid, **edit}.items() if v != "<removed>"}
        return yaml.safe_dump(spec, allow_unicode=True).encode()

    return edits.map(write) | corrupted_bytes(yaml.safe_dump(valid).encode())


def loaded_or_named(path: Path, call):
    """`call()`'s result, or None when it failed with one LLMRecError line naming `path`."""
    try:
        return call()
    except LLMRecError as e:
        assert str(e).startswith(str(path)) and "\n" not in str(e), e
        return None


@given(mutated_yaml(yaml.safe_load(ZERO_SHOT), TEMPLATE_KEYS))
@fuzz(200)
def test_fuzz_templates_load_valid_or_fail_naming_the_file(tmp_path, data):
    from llmrec.types import Sample

    path = template_file(tmp_path, data)
    load_template.cache_clear()  # the same path holds a new file each time
    template = loaded_or_named(path, lambda: load_template("rating", str(path)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.yaml"]
    if template is None:
        return
    assert isinstance(template.chat, bool) and isinstance(template.max_new_tokens, int) and template.max_new_tokens > 0
    assert isinstance(template.shots, int) and all(isinstance(s, str) and s for s in template.stop)
    sample = Sample("rating", "u1-i1", 1, 1, {"user": 1, "item": 1, "title": "T", "category": "C", "history": [],
                                              "examples": []}, 4.0)
    rendered = loaded_or_named(path, lambda: template.render(sample.variables))
    assert rendered is None or isinstance(rendered, str)


CONFIG = {"model": "popularity", "task": "direct", "limit": 5, "candidates": 20, "seed": 1}
CONFIG_KEYS = st.sampled_from(["model", "task", "limit", "candidates", "seed", "kcore", "temperature", "timeout",
                               "output", "fresh", "dataset", "candidate-order", "config", "limt"])


@given(mutated_yaml(CONFIG, CONFIG_KEYS))
@fuzz(60)
def test_fuzz_config_files_run_or_fail_in_one_line_naming_the_file(capsys, monkeypatch, tmp_path, data):
    from llmrec.evaluation import runner

    configs = []

    class Recorded:  # the run itself has its own tests: here only the options are checked
        def __init__(self, config):
            self.config = config
            configs.append(config)
            self.folder = tmp_path / "not-run"

        def run(self):
            return {"model": "popularity", "adapter": None, "tasks": {}}

    monkeypatch.setattr(runner, "Bench", Recorded)
    path = template_file(tmp_path, data, "c.yaml")
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--config", path)
    if code == 0:
        assert configs and all(c.limit is None or c.limit >= 1 for c in configs)
    else:
        line = one_line_error(code, err)
        assert str(path) in line or line.startswith("error: --model: expected a model name"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


def json_values():
    return st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                    max_size=3), max_leaves=5)


def paths_of(data, prefix=()):
    """Every (key path) into nested dicts and lists, for choosing where to corrupt."""
    yield prefix
    if isinstance(data, dict):
        for k, v in data.items():
            yield from paths_of(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from paths_of(v, prefix + (i,))


def replaced(data, path, value):
    if not path:
        return value
    copy = list(data) if isinstance(data, list) else dict(data)
    copy[path[0]] = replaced(data[path[0]], path[1:], value)
    return copy


def corrupted_json(valid) -> st.SearchStrategy[bytes]:
    """A JSON document with one value anywhere in it replaced, or the file's bytes corrupted."""
    where = list(paths_of(valid))
    swapped = st.tuples(st.sampled_from(where), json_values()).map(
        lambda p: json.dumps(replaced(valid, *p)).encode())
    return swapped | corrupted_bytes(json.dumps(valid, indent=1).encode())


BASELINE = json.loads((BASELINES / "mf.json").read_text())


@given(corrupted_json(BASELINE))
@fuzz(80)
def test_fuzz_baselines_gate_or_fail_in_one_line_naming_the_file(capsys, monkeypatch, tmp_path, data):
    path = template_file(tmp_path, data, "baseline.json")
    code, out, err = run_cli(capsys, monkeypatch, "check", "--baseline", path, "--current", BASELINES / "mf.json")
    assert code in (0, 1, 2), err
    if err.strip():
        assert str(path) in one_line_error(code, err)
    else:
        assert "baseline" in out  # the comparison table was printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.json"]


def with_entry(path: tuple, value) -> bytes:
    return json.dumps(replaced(BASELINE, path, value)).encode()


@given(corrupted_json(BASELINE))
@example(with_entry(("tasks", "rating", "counts"), 1))  # these three were found by this test: tracebacks
@example(with_entry(("tasks", "rating", "counts", "truncated"), [None]))
@example(with_entry(("created",), [None]))
@fuzz(50)
def test_fuzz_run_metrics_report_or_fail_in_one_line_naming_the_file(capsys, monkeypatch, tmp_path, data):
    path = template_file(tmp_path, data, "metrics.json")
    for format in ("md", "csv", "json", "html"):
        code, out, err = run_cli(capsys, monkeypatch, "report", path, "--format", format)
        assert (code == 0 and out) or str(path) in one_line_error(code, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def failed_record() -> dict:
    return {"task": "direct", "sample_id": "u2-i2", "user": 2, "item": 2, "failed": "HTTP 500 after 6 retries"}


def record(kind: str) -> dict:
    values = {"rating": (3.5, 4.0), "ranking": ([3, 1, 2], 1), "text": ("nice top", "Adorable")}
    value, reference = values[kind]
    task = {"rating": "rating", "ranking": "direct", "text": "review"}[kind]
    return {"task": task, "sample_id": "u1-i1", "user": 1, "item": 1, "prompt": None, "raw": None,
            "prediction": {"value": value, "parse_failed": False, "hallucinated": 0, "out_of_candidates": 0,
                           "duplicates": 0}, "reference": reference, "truncated_history": 0, "scores": {}}


@given(st.sampled_from(["rating", "ranking", "text", "failed"]).flatmap(
    lambda kind: corrupted_json(failed_record() if kind == "failed" else record(kind))))
@fuzz(100)
def test_fuzz_sample_records_load_into_scorable_records_or_fail_naming_the_line(tmp_path, data):
    from llmrec.metrics import per_sample_scores, score
    from llmrec.records import RECORD_KEYS, SampleLog, task_kind
    from llmrec.types import Prediction

    path = tmp_path / "samples.jsonl"
    good = json.dumps(record("rating")) + "\n"
    path.write_bytes(good.encode() + data.replace(b"\n", b" ") + b"\n")
    before = path.read_bytes()
    # as compare reads it, and as a resumed run opens it (which also takes failed samples' records)
    for log in (loaded_or_named(path, lambda: SampleLog.read(path, required=RECORD_KEYS)),
                loaded_or_named(path, lambda: SampleLog(path, required=RECORD_KEYS))):
        assert sorted(p.name for p in tmp_path.iterdir()) == ["samples.jsonl"] and path.read_bytes() == before
        for (task, _), r in (log.records if log else {}).items():
            kind = task_kind(task)
            if kind is None or "failed" in r:
                continue  # a task this llmrec does not have, or a sample to ask again: neither is scored
            prediction = Prediction.from_json(r["prediction"])
            per_sample_scores(kind, prediction, r["reference"])
            score(kind, [prediction], [r["reference"]], n_boot=10)


@given(corrupted_json(json.loads(json.dumps({"format": 1, "run_id": "x", "settings": {}, "identity": {},
                                              "model_info": {"recommender": "popularity", "fitted": {}},
                                              "tasks": {}, "wall_time_s": 1.5,
                                              "tokens": {"tokens_in": 3, "tokens_out": None}}))))
@example(b'{"model_info": {"fitted": null}}')  # found by this test: a resumed recommender run crashed on it
@fuzz(200)
def test_fuzz_manifests_read_back_valid_or_fail_naming_the_file(tmp_path, data):
    from llmrec.evaluation.predictors import LLMPredictor, RecommenderPredictor
    from llmrec.evaluation.runner import BenchConfig
    from llmrec.records import read_json

    path = template_file(tmp_path, data, "manifest.json")
    previous = loaded_or_named(path, lambda: read_json(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]
    if previous is None:
        return
    # what resuming reads from it: the wall time so far, the fits and token counts of earlier invocations
    assert float(previous.get("wall_time_s", 0.0)) >= 0
    RecommenderPredictor(BenchConfig(model="popularity", tasks=[])).info(previous)
    tokens = LLMPredictor(BenchConfig(model="smollm2", tasks=[])).tokens(previous) or {}
    assert all(tokens.get(k) is None or tokens[k] + 0 >= 0 for k in ("tokens_in", "tokens_out"))


def test_a_cut_review_is_recorded_with_the_words_it_lost_and_a_miscount_is_refused():
    from llmrec.evaluation.predictors import Answer
    from llmrec.evaluation.runner import record
    from llmrec.records import record_problem
    from llmrec.tasks import TASKS
    from llmrec.types import Prediction

    task, sample = TASKS.get("review"), review_sample(5)
    whole = record(task, sample, Answer("p", "a b", Prediction(value="a b")))
    cut = record(task, sample, Answer("p", "a b", Prediction(value="a b"), cut_words=7))
    assert "truncated_text" not in whole and cut["truncated_text"] == 7  # uncut records keep their old shape
    assert record_problem(json.loads(json.dumps(cut))) is None
    assert record_problem({**cut, "truncated_text": "seven"}) == "truncated_text: expected a count, got 'seven'"
