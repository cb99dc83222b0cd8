"""`llmrec check`: the regression gate's verdicts and exit codes, tolerances, and baseline updates."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from llmrec.reporting.check import check, parse_tolerances
from llmrec.errors import LLMRecError


def metric(value, lo=None, hi=None):
    return {"value": value, "ci": None if lo is None else [lo, hi]}


def record(run_id="smol__a", **task_changes) -> dict:
    direct = {"dataset": "movielens-100k", "fingerprint": "ab" * 32, "template": "zero-shot",
              "template_hash": "cd" * 32, "scoring": "generate", "candidates": 100, "n_samples": 943,
              "metrics": {"hr@10": metric(0.20, 0.17, 0.23), "ndcg@10": metric(0.10, 0.085, 0.115),
                          "parse_failure_rate": metric(0.02, 0.01, 0.03)},
              "counts": {"samples": 943, "parse_failed": 19}}
    rating = {"dataset": "movielens-100k", "fingerprint": "ab" * 32, "template": "zero-shot",
              "template_hash": "ef" * 32, "scoring": "generate", "candidates": None, "n_samples": 2000,
              "metrics": {"rmse": metric(1.20, 1.15, 1.25), "mae": metric(0.95, 0.92, 0.98)}}
    review = {"dataset": "clothing", "fingerprint": "12" * 32, "template": "zero-shot",
              "template_hash": "34" * 32, "scoring": "generate", "candidates": None, "n_samples": 500,
              "metrics": {"rouge-1": metric(15.0, 14.0, 16.0)}}
    tasks = {"direct": direct, "rating": rating, "review": review}
    for task, changes in task_changes.items():
        tasks[task].update(changes)
    return {"format": 1, "run_id": run_id, "model": "smollm2", "created": "2026-11-27T10:00:00Z", "tasks": tasks}


def with_value(rec: dict, task: str, name: str, value) -> dict:
    rec = copy.deepcopy(rec)
    rec["tasks"][task]["metrics"][name]["value"] = value
    return rec


def write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


@pytest.fixture
def baseline(tmp_path: Path) -> Path:
    return write(tmp_path / "results" / "baselines" / "smol.json", record())


def run_check(tmp_path: Path, baseline: Path, current: dict, tolerances=None, capsys=None) -> int:
    folder = tmp_path / "results" / "runs" / current["run_id"]
    write(folder / "metrics.json", current)
    return check(baseline, folder, tolerances)


def verdicts(out: str) -> str:
    return " ".join(out.split())  # rich wraps cells; compare on collapsed whitespace


def test_equal_run_passes(tmp_path, baseline, capsys):
    assert run_check(tmp_path, baseline, record()) == 0
    out = capsys.readouterr().out
    assert "same" in out and "pass" in out and "REGRESSION" not in out


def test_drop_beyond_ci_and_default_tolerance_fails(tmp_path, baseline, capsys):
    # hr@10 0.20 -> 0.15: below the baseline CI [0.17, 0.23] and by more than 0.01
    assert run_check(tmp_path, baseline, with_value(record(), "direct", "hr@10", 0.15)) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "-0.0500" in out


def test_drop_inside_ci_passes_by_default_but_not_with_explicit_tolerance(tmp_path, baseline, capsys):
    current = with_value(record(), "direct", "hr@10", 0.18)  # -0.02, still inside [0.17, 0.23]
    assert run_check(tmp_path, baseline, current) == 0
    assert "worse (ok)" in verdicts(capsys.readouterr().out)
    assert run_check(tmp_path, baseline, current, {"hr@10": 0.01}) == 1
    assert run_check(tmp_path, baseline, current, {"hr@10": 0.03}) == 0


def test_lower_is_better_metrics_regress_upwards(tmp_path, baseline, capsys):
    assert run_check(tmp_path, baseline, with_value(record(), "rating", "rmse", 1.30)) == 1
    assert run_check(tmp_path, baseline, with_value(record(), "rating", "rmse", 1.00)) == 0
    assert run_check(tmp_path, baseline, with_value(record(), "direct", "parse_failure_rate", 0.10)) == 1


def test_improvements_pass_as_better(tmp_path, baseline, capsys):
    current = with_value(with_value(record(), "direct", "hr@10", 0.40), "rating", "rmse", 0.90)
    assert run_check(tmp_path, baseline, current) == 0
    out = capsys.readouterr().out
    assert out.count("better") == 2 and "+0.2000" in out


def test_text_metrics_use_half_a_point_default(tmp_path, baseline):
    # rouge-1 baseline 15.0 with CI [14, 16]: 13.7 is outside the CI by 1.3 points -> fail
    assert run_check(tmp_path, baseline, with_value(record(), "review", "rouge-1", 13.7)) == 1
    # with a wide CI the same drop stays within the noise
    wide = copy.deepcopy(record())
    wide["tasks"]["review"]["metrics"]["rouge-1"]["ci"] = [12.0, 18.0]
    write(baseline, wide)
    assert run_check(tmp_path, baseline, with_value(record(), "review", "rouge-1", 13.7)) == 0
    # without a CI only the 0.5 point tolerance decides
    wide["tasks"]["review"]["metrics"]["rouge-1"]["ci"] = None
    write(baseline, wide)
    assert run_check(tmp_path, baseline, with_value(record(), "review", "rouge-1", 14.6)) == 0
    assert run_check(tmp_path, baseline, with_value(record(), "review", "rouge-1", 14.4)) == 1


@pytest.mark.parametrize("task, changes, shown", [
    ("direct", {"fingerprint": "ff" * 32}, "fingerprint"),
    ("direct", {"template_hash": "00" * 32}, "template_hash"),
    ("direct", {"scoring": "loglikelihood"}, "scoring"),
    ("direct", {"candidates": 20}, "candidates"),
    ("rating", {"n_samples": 100}, "n_samples"),
    ("direct", {"candidate_order": "target-first"}, "candidate_order"),
    ("direct", {"sample_ids_sha256": "99" * 32}, "sample_ids_sha256"),
    ("rating", {"shots": 3}, "shots"),
    ("rating", {"temperature": 0.7}, "temperature"),
    ("rating", {"max_new_tokens": 8}, "max_new_tokens"),
    ("rating", {"truncation": "error"}, "truncation"),
    ("rating", {"limit": 50}, "limit"),
    ("rating", {"seed": 1}, "seed"),
    ("review", {"metrics_version": 1}, "metrics_version"),
])  # fmt: skip
def test_protocol_mismatch_is_unusable_never_a_pass(tmp_path, baseline, capsys, task, changes, shown):
    # even with numbers that would pass, a different protocol is exit 2
    assert run_check(tmp_path, baseline, record(**{task: changes})) == 2
    out = verdicts(capsys.readouterr().out)
    assert "MISMATCH" in out and shown in out and "not comparable" in out


def test_missing_metric_or_task_is_unusable(tmp_path, baseline, capsys):
    current = record()
    del current["tasks"]["direct"]["metrics"]["ndcg@10"]
    assert run_check(tmp_path, baseline, current) == 2
    assert "MISSING" in capsys.readouterr().out
    current = record()
    del current["tasks"]["review"]
    assert run_check(tmp_path, baseline, current) == 2
    # a regression elsewhere does not hide that the comparison is incomplete
    assert run_check(tmp_path, baseline, with_value(current, "rating", "rmse", 2.0)) == 2


def test_extra_tasks_in_current_are_ignored(tmp_path, baseline):
    small = record()
    del small["tasks"]["review"]
    write(baseline, small)
    assert run_check(tmp_path, baseline, record()) == 0


def test_metric_without_value(tmp_path, baseline, capsys):
    # MAE is undefined (NaN) when no rating parsed: losing it is a regression
    assert run_check(tmp_path, baseline, with_value(record(), "rating", "mae", float("nan"))) == 1
    write(baseline, with_value(record(), "rating", "mae", None))
    assert run_check(tmp_path, baseline, record()) == 0


def test_parse_tolerances():
    assert parse_tolerances("hr@10=0.02, rmse=0.05,") == {"hr@10": 0.02, "rmse": 0.05}
    assert parse_tolerances("") == {}
    for bad in ("hr@10", "hr@10=abc", "=0.1", "rmse=-1", "rmse=inf", "rmse=nan", "a=1,a=2", "hr@10:0.02"):
        with pytest.raises(LLMRecError, match="--tolerance"):
            parse_tolerances(bad)


def test_tolerance_for_unknown_metric_is_an_error(tmp_path, baseline):
    with pytest.raises(LLMRecError, match="hr10 is not a metric of baseline"):
        run_check(tmp_path, baseline, record(), {"hr10": 0.02})


def test_unreadable_inputs_raise(tmp_path, baseline):
    with pytest.raises(LLMRecError, match="not found"):
        check(tmp_path / "nope.json", None)
    bad = tmp_path / "bad.json"
    bad.write_text("{\n  \"format\": 1,\n  oops\n}")
    with pytest.raises(LLMRecError, match=r"bad\.json:3: invalid JSON"):
        check(bad, None)


def test_default_current_is_latest_run_matching_baseline_tasks(tmp_path, baseline, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = tmp_path / "results" / "runs"
    old_good = write(runs / "old" / "metrics.json", record("old"))
    # nested, as `llmrec bench --output results/runs/ci` writes it
    newer_bad = write(runs / "ci" / "newer" / "metrics.json", with_value(record("newer"), "direct", "hr@10", 0.05))
    other = record("other")
    del other["tasks"]["rating"]  # newest, but does not cover the baseline's tasks
    newest_other = write(runs / "other" / "metrics.json", other)
    for age, file in ((300, old_good), (200, newer_bad), (100, newest_other)):
        os.utime(file, (file.stat().st_mtime - age,) * 2)
    assert check(baseline, None) == 1  # picked "newer" (the regression), not "other" or "old"
    os.utime(old_good, None)  # now "old" is the most recently written
    assert check(baseline, None) == 0
    (runs / "old" / "metrics.json").unlink()
    newer_bad.unlink()
    with pytest.raises(LLMRecError, match="no run of .* covers the baseline's tasks"):
        check(baseline, None)


def test_current_folder_of_runs_means_its_latest_run_of_the_baselines_model(tmp_path, baseline):
    runs = tmp_path / "gate"
    mine = write(runs / "a" / "metrics.json", record("a"))
    other_model = {**with_value(record("b"), "direct", "hr@10", 0.05), "model": "someone-else"}
    newest = write(runs / "b" / "metrics.json", other_model)
    os.utime(mine, (newest.stat().st_mtime - 100,) * 2)
    assert check(baseline, runs) == 0  # the newest run is another model's: not compared


def test_update_writes_current_metrics_to_baseline(tmp_path, baseline, capsys):
    current = with_value(record("new"), "direct", "hr@10", 0.10)
    folder = tmp_path / "results" / "runs" / "new"
    write(folder / "metrics.json", current)
    assert check(baseline, folder) == 1
    assert check(baseline, folder, update=True) == 0
    assert json.loads(baseline.read_text()) == current
    assert [p.name for p in baseline.parent.iterdir()] == ["smol.json"]  # no temp file left behind
    assert baseline.stat().st_mode & 0o044  # readable by others, like any committed file
    assert check(baseline, folder) == 0
    assert "updated from run new" in capsys.readouterr().out


def test_update_creates_missing_baseline_from_latest_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "results" / "runs" / "only" / "metrics.json", record("only"))
    target = Path("results/baselines/new/smol.json")
    assert check(target, None, update=True) == 0
    assert json.loads(target.read_text())["run_id"] == "only"


def test_update_refuses_invalid_run(tmp_path, baseline):
    folder = tmp_path / "broken"
    write(folder / "metrics.json", {"format": 1, "run_id": "x"})
    before = baseline.read_text()
    with pytest.raises(LLMRecError, match="model"):
        check(baseline, folder, update=True)
    assert baseline.read_text() == before


def test_real_runs_that_differ_only_in_candidate_order_are_not_comparable(tmp_path, prepared_cache, capsys):
    from llmrec.evaluation.runner import Bench, BenchConfig
    from llmrec.tasks import parse_task_list

    folders = []
    for order in ("shuffled", "target-first"):
        config = BenchConfig(model="popularity", tasks=parse_task_list("direct"), limit=30, candidate_order=order,
                             output=tmp_path / "runs", data_dir=prepared_cache)
        bench = Bench(config)
        bench.run()
        folders.append(bench.folder)
    assert folders[0] != folders[1]
    assert check(folders[0] / "metrics.json", folders[1]) == 2
    assert "candidate_order" in verdicts(capsys.readouterr().out)
