"""`llmrec compare`: paired differences, bootstrap CIs and permutation p-values on hand-checkable runs."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest

from llmrec.reporting import compare as cmp
from llmrec.errors import LLMRecError
from llmrec.metrics import corpus_bleu, resampled_sums
from llmrec.protocol import NOT_RECORDED, differences_or_unknown, sample_ids_sha256
from llmrec.records import SampleLog
from llmrec.types import Prediction

TASK_KIND = {"direct": "ranking", "rating": "rating", "review": "text"}
HIT, MISS = [7, 1, 2], [1, 2, 3]  # ranked lists for target 7: a hit at rank 1, a miss


def entry(task: str, ids: list[str], **changes) -> dict:
    ranking = TASK_KIND[task] == "ranking"
    e = {"dataset": "movielens-100k", "fingerprint": "ab" * 32, "split": "test",
         "n_samples": len(ids), "sample_ids_sha256": sample_ids_sha256(ids), "limit": None, "seed": 2023,
         "metrics_version": 2, "candidates": 100 if ranking else None,
         "candidate_order": "shuffled" if ranking else None, "ranking_over": "candidates" if ranking else None,
         "scoring": "classic", "template": None, "template_hash": None, "shots": None, "max_new_tokens": None,
         "temperature": None, "truncation": None, "metrics": {}, "counts": {}}
    e.update(changes)
    return e


def write_run(folder: Path, model: str, task: str, predictions: list[Prediction], references: list,
              ids: list[str] | None = None, **changes) -> Path:
    """A run folder as bench writes it: metrics.json (protocol, no numbers needed) and samples.jsonl."""
    ids = ids or [f"u{i}" for i in range(len(predictions))]
    folder.mkdir(parents=True)
    records = [{"task": task, "sample_id": i, "prediction": p.to_json(), "reference": r}
               for i, p, r in zip(ids, predictions, references, strict=True)]
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    metrics = {"format": 1, "run_id": f"{model}__0", "model": model, "adapter": None,
               "tasks": {task: entry(task, ids, **changes)}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def ranking_runs(tmp_path: Path, a_only: int, b_only: int, both: int = 2, neither: int = 2, **b_changes):
    """Target 7 everywhere; A hits alone on `a_only` samples, B alone on `b_only`, both or neither on the rest."""
    a = [HIT] * a_only + [MISS] * b_only + [HIT] * both + [MISS] * neither
    b = [MISS] * a_only + [HIT] * b_only + [HIT] * both + [MISS] * neither
    refs = [7] * len(a)
    return (write_run(tmp_path / "a", "knn", "direct", [Prediction(v) for v in a], refs),
            write_run(tmp_path / "b", "pop", "direct", [Prediction(v) for v in b], refs, **b_changes))


def by_metric(comparison: cmp.TaskComparison) -> dict[str, cmp.MetricComparison]:
    return {m.metric: m for m in comparison.metrics}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmrec", "compare", *args], capture_output=True, text=True,
                          timeout=300, env=os.environ)


def test_a_hit_where_b_missed_gives_the_exact_difference_and_the_sign_test_p(tmp_path):
    a, b = ranking_runs(tmp_path, a_only=7, b_only=1)  # 12 samples, 8 discordant: 2^8 swaps are enumerated
    [c] = cmp.compare_runs(a, b, n_perm=1000)
    hr = by_metric(c)["hr@10"]
    assert (hr.a, hr.b, hr.diff) == (9 / 12, 3 / 12, 0.5)
    assert hr.p_exact and hr.p == pytest.approx(binomtest(7, 8, 0.5).pvalue) == 18 / 256
    assert hr.ci[0] <= hr.diff <= hr.ci[1]
    assert hr.better == "A" and hr.verdict == "A better"  # 95% CI excludes 0 though p > 0.05: a small sample
    assert (c.n_shared, c.only_a, c.only_b, c.n_differing) == (12, 0, 0, 8)


def test_random_swaps_approach_the_exact_sign_test(tmp_path):
    a, b = ranking_runs(tmp_path, a_only=20, b_only=10)  # 2^30 swaps: too many to enumerate
    [c] = cmp.compare_runs(a, b, n_perm=20000, seed=1)
    hr = by_metric(c)["hr@10"]
    assert not hr.p_exact
    assert hr.p == pytest.approx(binomtest(20, 30, 0.5).pvalue, abs=0.01)  # 0.0987; Monte Carlo SE 0.002


def test_identical_runs_differ_by_zero_with_p_one(tmp_path):
    a, _ = ranking_runs(tmp_path, a_only=5, b_only=3)
    [c] = cmp.compare_runs(a, a)
    for m in c.metrics:
        assert m.diff == 0 and m.ci == (0.0, 0.0) and m.p == 1 and m.verdict == "no clear difference"
    assert c.n_differing == 0 and c.settings == []


def test_one_draw_of_resamples_serves_both_runs():
    """resampled_sums draws from rng(seed) and n only: the side-by-side draw equals two calls with one seed."""
    rng = np.random.default_rng(0)
    stats_a, stats_b = rng.random((50, 3)), rng.random((50, 3))
    to_values = lambda s: {"first": s[:, 0] / s[:, 1], "second": s[:, 2]}  # noqa: E731
    paired = cmp.bootstrap_differences(to_values, stats_a, stats_b, n_boot=200, seed=5)
    a, b = to_values(resampled_sums(stats_a, 200, 5)), to_values(resampled_sums(stats_b, 200, 5))
    for name in paired:
        np.testing.assert_allclose(paired[name], a[name] - b[name])


def test_lower_is_better_rmse_on_shared_samples_equals_numpy(tmp_path):
    ids_a = [f"r{i}" for i in range(10)]
    ids_b = [f"r{i}" for i in range(4, 14)]  # shared: r4..r9
    truth = {f"r{i}": float(1 + i % 5) for i in range(14)}
    pred_a = {i: Prediction(truth[i] + 0.5) for i in ids_a}
    pred_b = {i: Prediction(truth[i] - 1.5) if i != "r5" else Prediction(None, parse_failed=True) for i in ids_b}
    a = write_run(tmp_path / "a", "mf", "rating", list(pred_a.values()), [truth[i] for i in ids_a], ids_a)
    b = write_run(tmp_path / "b", "mean", "rating", list(pred_b.values()), [truth[i] for i in ids_b], ids_b)
    [c] = cmp.compare_runs(a, b)
    shared = [f"r{i}" for i in range(4, 10)]
    clamp = lambda x: min(max(x, 1.0), 5.0)  # noqa: E731 - predictions are clamped to the rating scale
    rmse_a = np.sqrt(np.mean([(clamp(pred_a[i].value) - truth[i]) ** 2 for i in shared]))
    parsed_b = [i for i in shared if i != "r5"]
    rmse_b = np.sqrt(np.mean([(clamp(pred_b[i].value) - truth[i]) ** 2 for i in parsed_b]))
    rmse = by_metric(c)["rmse"]
    assert (c.n_shared, c.only_a, c.only_b) == (6, 4, 4)
    assert rmse.a == pytest.approx(rmse_a) and rmse.b == pytest.approx(rmse_b)
    assert rmse.diff == pytest.approx(rmse_a - rmse_b) and rmse.diff < 0
    assert rmse.lower_is_better and rmse.better == "A"
    assert by_metric(c)["coverage"].diff == pytest.approx(1 - 5 / 6)


def test_rmse_undefined_when_one_side_parsed_nothing(tmp_path):
    refs = [3.0, 4.0, 5.0]
    a = write_run(tmp_path / "a", "mf", "rating", [Prediction(3.0), Prediction(4.5), Prediction(4.0)], refs)
    b = write_run(tmp_path / "b", "llm", "rating", [Prediction(None, parse_failed=True)] * 3, refs)
    [c] = cmp.compare_runs(a, b)
    rmse = by_metric(c)["rmse"]
    assert math.isnan(rmse.b) and math.isnan(rmse.diff) and math.isnan(rmse.p) and rmse.verdict == "undefined"
    assert by_metric(c)["coverage"].diff == 1.0
    rows = {r["metric"]: r for r in c.to_json()["metrics"]}
    assert rows["rmse"]["b"] is None and rows["rmse"]["ci"] == [None, None]


def test_corpus_bleu_is_recomputed_from_summed_statistics(tmp_path):
    refs = ["the cat sat on the mat today", "a dog ran in the park", "it was a very good movie indeed"]
    hyp_a = ["the cat sat on the mat", "a dog ran in a park", "it was a good movie"]
    hyp_b = ["cat mat", "the dog ran", "a very good movie indeed it was"]
    a = write_run(tmp_path / "a", "x", "review", [Prediction(h) for h in hyp_a], refs)
    b = write_run(tmp_path / "b", "y", "review", [Prediction(h) for h in hyp_b], refs)
    bleu = by_metric(cmp.compare_runs(a, b)[0])["bleu-4"]
    assert bleu.a == pytest.approx(corpus_bleu(hyp_a, refs)) and bleu.b == pytest.approx(corpus_bleu(hyp_b, refs))
    assert bleu.diff == pytest.approx(corpus_bleu(hyp_a, refs) - corpus_bleu(hyp_b, refs))


def test_protocol_mismatch_exits_2_naming_the_key_and_both_values(tmp_path):
    a, b = ranking_runs(tmp_path, a_only=3, b_only=1, candidate_order="target-first")
    out = cli(str(a), str(b))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "direct: candidate_order: A shuffled, B target-first" in out.stderr
    assert out.stdout == ""  # no numbers


def test_a_protocol_key_an_older_run_did_not_record_agrees_with_nothing(tmp_path):
    a, b = ranking_runs(tmp_path, a_only=3, b_only=1)
    metrics = json.loads((b / "metrics.json").read_text())
    del metrics["tasks"]["direct"]["fingerprint"]
    (b / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(LLMRecError, match=r"fingerprint: A abababababab…, B \(not recorded\)"):
        cmp.compare_runs(a, b)


def test_unknown_keys_differ_even_from_each_other():
    a, b = {"seed": 1, "split": "test"}, {"seed": 1}
    assert differences_or_unknown(a, b, ("seed", "split", "fingerprint")) == [
        ("split", "test", NOT_RECORDED), ("fingerprint", NOT_RECORDED, NOT_RECORDED)]


def test_the_read_only_sample_log_creates_and_changes_nothing(tmp_path):
    missing = tmp_path / "runs" / "samples.jsonl"
    assert SampleLog.read(missing).records == {} and not missing.parent.exists()
    log = tmp_path / "samples.jsonl"
    whole = json.dumps({"task": "direct", "sample_id": "u1", "prediction": {"value": [7]}, "reference": 7}) + "\n"
    log.write_text(whole + whole.replace("u1", "u2")[:30])  # a kill cut the second record short
    before = sorted(p.name for p in tmp_path.iterdir()), log.read_bytes()
    read = SampleLog.read(log, required=cmp.RECORD_KEYS)
    assert list(read.records) == [("direct", "u1")] and read.dropped_partial == 1
    assert (sorted(p.name for p in tmp_path.iterdir()), log.read_bytes()) == before
    with pytest.raises(ValueError, match="read-only"):
        read.append([{"task": "direct", "sample_id": "u3"}])
    opened = SampleLog(log)  # opening for appending removes the cut line, as a resumed run needs
    assert list(opened.records) == [("direct", "u1")] and log.read_text() == whole


def test_a_record_without_its_prediction_names_the_line(tmp_path):
    a, b = ranking_runs(tmp_path, a_only=3, b_only=1)
    log = b / "samples.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    lines[2] = json.dumps({"task": "direct", "sample_id": "u2", "reference": 7}) + "\n"
    log.write_text("\n" + "".join(lines))  # a blank line holds no record
    with pytest.raises(LLMRecError, match=rf"{log}:4: expected a JSON sample record with task, sample_id, "
                                          r"prediction and reference$"):
        cmp.compare_runs(a, b)


def test_partial_overlap_states_the_counts(tmp_path):
    refs = [7] * 8
    a = write_run(tmp_path / "a", "knn", "direct", [Prediction(HIT)] * 8, refs, [f"u{i}" for i in range(8)])
    b = write_run(tmp_path / "b", "pop", "direct", [Prediction(MISS)] * 5, refs[:5], [f"u{i}" for i in range(5, 10)],
                  limit=5)
    out = cli(str(a), str(b))
    assert out.returncode == 0, out.stderr
    assert "3 shared samples (left out: 5 only in A, 2 only in B)" in out.stdout
    assert "settings that differ:\n  limit  A none, B 5\n" in out.stdout


def test_no_shared_sample_is_refused(tmp_path):
    a = write_run(tmp_path / "a", "knn", "direct", [Prediction(HIT)], [7], ["u1"])
    b = write_run(tmp_path / "b", "pop", "direct", [Prediction(HIT)], [7], ["u2"])
    with pytest.raises(LLMRecError, match="share no sample"):
        cmp.compare_runs(a, b)


def test_samples_missing_from_the_log_name_the_file(tmp_path):
    a, b = ranking_runs(tmp_path, a_only=3, b_only=1)
    log = b / "samples.jsonl"
    log.write_text("".join(log.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(LLMRecError, match=rf"{log}: holds 7 direct samples, metrics.json next to it says 8"):
        cmp.compare_runs(a, b)


def test_paired_rows_for_reports_are_plain_dicts(tmp_path):
    from llmrec.reporting.report import load_run

    a, b = ranking_runs(tmp_path, a_only=4, b_only=0)
    run_a, run_b = load_run(a), load_run(b)
    assert cmp.comparable(run_a, run_b, "direct") and not cmp.comparable(run_a, run_b, "rating")
    rows = cmp.paired_rows(run_a, run_b, "direct", n_perm=100)
    assert [r["metric"] for r in rows][:3] == ["hr@1", "hr@5", "hr@10"]
    assert rows[2]["diff"] == pytest.approx(4 / 8) and rows[2]["better"] == "A" and rows[2]["verdict"] == "A better"
    json.dumps(rows, allow_nan=False)


def test_json_format_and_argument_errors(tmp_path):
    a, b = ranking_runs(tmp_path, a_only=3, b_only=1)
    out = cli(str(a), str(b), "--format", "json", "--n-perm", "100")
    assert out.returncode == 0, out.stderr
    [task] = json.loads(out.stdout)
    assert task["task"] == "direct" and task["n_shared"] == 8
    three = cli(str(a), str(b), str(a))
    assert three.returncode == 2 and "expected two runs (A and B), got 3" in three.stderr
    missing = cli(str(a), str(b), "--task", "rating")
    assert missing.returncode == 2 and "has no rating (it holds direct)" in missing.stderr


def test_itemknn_beats_popularity_on_direct_movielens(tmp_path, prepared_cache):
    from llmrec.evaluation.runner import Bench, BenchConfig
    from llmrec.tasks import parse_task_list

    folders = {}
    for model in ("itemknn", "popularity"):
        runner = Bench(BenchConfig(model=model, tasks=parse_task_list("direct"), output=tmp_path / "runs",
                                   data_dir=prepared_cache))
        recorded = runner.run()["tasks"]["direct"]["metrics"]
        folders[model] = runner.folder
    [c] = cmp.compare_runs(folders["itemknn"], folders["popularity"])
    hr = by_metric(c)["hr@10"]
    assert c.n_shared == 943 and c.only_a == c.only_b == 0
    assert hr.better == "A" and hr.p < 0.05 and hr.ci[0] > 0
    assert by_metric(c)["ndcg@10"].b == pytest.approx(recorded["ndcg@10"]["value"])  # every sample shared


def test_exact_swaps_enumerate_every_mask_once_across_chunks():
    chunks = list(cmp.swap_masks(5, 100, np.random.default_rng(0), chunk=7))
    masks = np.vstack([m for m, _ in chunks])
    assert all(exact for _, exact in chunks) and len(masks) == len({tuple(r) for r in masks}) == 2 ** 5


def test_the_table_says_when_the_ci_and_p_disagree(tmp_path, capsys):
    a, b = ranking_runs(tmp_path, a_only=7, b_only=1)  # CI excludes 0, exact p = 0.07
    cmp.print_comparisons(cmp.compare_runs(a, b, n_perm=1000))
    out = capsys.readouterr().out
    assert "12 shared samples (every sample of each run is in both); A and B score differently on 8" in out
    assert "all 2^8 swaps" in out and "where the CI and p disagree" in out
    assert "│ hr@10   │ 0.7500 │ 0.2500 │ +0.5000 │" in out
    assert "strict_" not in out and "_rate" not in out  # classic models: both views agree, no invalid answers


def test_generated_answers_show_the_strict_view_and_the_rates(tmp_path):
    a, b = ranking_runs(tmp_path, a_only=3, b_only=1, scoring="generate")
    shown = [m.metric for m in cmp.shown_metrics(cmp.compare_runs(a, b, n_perm=100)[0])]
    assert "strict_hr@10" in shown and "parse_failure_rate" in shown
