"""`llmrec bench` end to end with classic models: records, resume, scores, errors."""

import json
import os
import subprocess
import sys

import pytest

from llmrec.evaluation.runner import Bench, BenchConfig
from llmrec.tasks import parse_task_list


def bench(tmp_path, prepared_cache, model, tasks, **kw):
    config = BenchConfig(model=model, tasks=parse_task_list(tasks), output=tmp_path / "runs",
                         data_dir=prepared_cache, **kw)
    runner = Bench(config)
    return runner, runner.run()


def cli(*args, cwd, data_root):
    return subprocess.run([sys.executable, "-m", "llmrec", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "LLMREC_DATA_DIR": str(data_root)})


def test_itemknn_beats_popularity_on_direct_recommendation(tmp_path, prepared_cache):
    _, pop = bench(tmp_path, prepared_cache, "popularity", "direct")
    _, knn = bench(tmp_path, prepared_cache, "itemknn", "direct")
    assert pop["tasks"]["direct"]["n_samples"] == knn["tasks"]["direct"]["n_samples"] == 943
    assert knn["tasks"]["direct"]["metrics"]["hr@10"]["value"] > pop["tasks"]["direct"]["metrics"]["hr@10"]["ci"][1]


def test_run_folder_holds_manifest_samples_and_metrics(tmp_path, prepared_cache):
    runner, metrics = bench(tmp_path, prepared_cache, "mf", "rating", limit=200)
    manifest = json.loads((runner.folder / "manifest.json").read_text())
    lines = (runner.folder / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 200 and len({json.loads(x)["sample_id"] for x in lines}) == 200
    assert manifest["tasks"]["rating"]["fingerprint"] == metrics["tasks"]["rating"]["fingerprint"]
    for key in ("llmrec_version", "git_commit", "settings", "library_versions", "hardware", "wall_time_s"):
        assert key in manifest
    rmse = metrics["tasks"]["rating"]["metrics"]["rmse"]
    assert rmse["ci"][0] <= rmse["value"] <= rmse["ci"][1] and 0.5 < rmse["value"] < 1.5


def test_mf_fits_the_same_whichever_way_memory_is_allocated(prepared_cache, monkeypatch):
    import contextlib

    import torch

    from llmrec.recommenders import classic as baselines
    from llmrec.data import prepare_dataset

    prepared = prepare_dataset("movielens-100k", cache_dir=prepared_cache)
    heap = baselines.MatrixFactorization(max_epochs=20)
    heap.fit(prepared)
    monkeypatch.setattr(baselines, "large_buffers_reused", contextlib.nullcontext)
    mapped = baselines.MatrixFactorization(max_epochs=20)
    mapped.fit(prepared)
    assert all(torch.equal(heap.params[k], mapped.params[k]) for k in heap.params)
    assert heap.fit_report() == mapped.fit_report()


def test_resume_after_a_kill_records_each_sample_once_and_scores_the_same(tmp_path, prepared_cache):
    full, expected = bench(tmp_path / "a", prepared_cache, "itemknn", "sequential,direct")
    killed, _ = bench(tmp_path / "b", prepared_cache, "itemknn", "sequential,direct")
    log = killed.folder / "samples.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:700]) + lines[700][:40])  # a kill mid-write leaves half a line
    (killed.folder / "metrics.json").unlink()
    _, resumed = bench(tmp_path / "b", prepared_cache, "itemknn", "sequential,direct")
    ids = [json.loads(x)["task"] + json.loads(x)["sample_id"] for x in log.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 2 * 943
    for task in ("sequential", "direct"):
        assert resumed["tasks"][task]["metrics"] == expected["tasks"][task]["metrics"]


def test_cli_prints_tables_and_bad_input_exits_2(tmp_path, data_root):
    env_args = ("--output", str(tmp_path / "runs"))
    ok = cli("bench", "--model", "popularity", "--task", "direct", "--limit", "100", *env_args,
             cwd=tmp_path, data_root=data_root)
    assert ok.returncode == 0, ok.stderr
    assert "hr@10" in ok.stdout and "ndcg@10" in ok.stdout
    for args, message in [
        (("--model", "popularity", "--task", "direct", "--dataset", "nope"), "unknown dataset 'nope'"),
        (("--model", "lead", "--task", "rating"), "does not do the rating task"),
        (("--model", "popularity", "--task", "ratings"), "unknown task 'ratings'"),
        (("--model", "popularity", "--task", "direct", "--scoring", "best"), "--scoring: expected one of"),
        (("--model", "popularity", "--task", "direct", "--dataset", f"amazon:{tmp_path}/missing.json"),
         "missing.json"),
    ]:
        bad = cli("bench", *args, *env_args, cwd=tmp_path, data_root=data_root)
        assert bad.returncode == 2, (args, bad.stderr)
        assert message in bad.stderr and "Traceback" not in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
    assert len(list((tmp_path / "runs").iterdir())) == 1  # failed runs wrote nothing


def test_classic_text_baseline_on_reviews(tmp_path, prepared_cache):
    _, metrics = bench(tmp_path, prepared_cache, "lead", "review,explanation", limit=100)
    for task in ("review", "explanation"):
        m = metrics["tasks"][task]["metrics"]
        assert m["rouge-1"]["value"] > 0 and m["bleu-1"]["value"] > 0


def test_several_models_run_on_the_same_samples_and_end_with_a_comparison(tmp_path, data_root):
    done = cli("bench", "--model", "popularity,itemknn,mf", "--task", "direct,rating", "--limit", "30",
               "--output", str(tmp_path / "runs"), cwd=tmp_path, data_root=data_root)
    assert done.returncode == 0, done.stderr
    assert "itemknn: skipping rating" in done.stderr and "mf: skipping direct" in done.stderr
    assert "comparison · direct" in done.stdout and "comparison · rating" in done.stdout
    assert "same sample ids for every row" in done.stdout
    entries = [json.loads(f.read_text())["tasks"] for f in (tmp_path / "runs").glob("*/metrics.json")]
    direct = {e["direct"]["sample_ids_sha256"] for e in entries if "direct" in e}
    rating = {e["rating"]["sample_ids_sha256"] for e in entries if "rating" in e}
    assert len(entries) == 3 and len(direct) == 1 and len(rating) == 1


def test_a_resumed_run_loads_the_fit_it_saved_instead_of_fitting_again(tmp_path, prepared_cache, monkeypatch):
    from llmrec.recommenders.classic import ItemKNN

    runner, first = bench(tmp_path, prepared_cache, "itemknn", "direct", limit=60)
    saved = runner.folder / "models" / "direct.pkl"
    assert saved.is_file()
    log = runner.folder / "samples.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:20]))  # interrupted after 20 samples

    def no_refit(self, prepared):
        raise AssertionError("fitted again")

    monkeypatch.setattr(ItemKNN, "fit", no_refit)
    again, resumed = bench(tmp_path, prepared_cache, "itemknn", "direct", limit=60)
    assert again.folder == runner.folder and log.read_text().splitlines(keepends=True) == lines
    assert resumed["tasks"] == first["tasks"]
    with pytest.raises(AssertionError, match="fitted again"):  # --fresh forgets the fit, too
        bench(tmp_path, prepared_cache, "itemknn", "direct", limit=60, fresh=True)


def test_a_saved_fit_of_other_hyperparameters_is_not_loaded(tmp_path, prepared_cache):
    from llmrec.recommenders.classic import ItemKNN

    model = ItemKNN(k=5)
    model.fit(prepare(prepared_cache))
    model.save(tmp_path / "fit.pkl")
    assert not ItemKNN(k=6).load(tmp_path / "fit.pkl")
    loaded = ItemKNN(k=5)
    assert loaded.load(tmp_path / "fit.pkl") and (loaded.neighbours != model.neighbours).nnz == 0


def prepare(prepared_cache):
    from llmrec.data import prepare_for_run

    return prepare_for_run("movielens-100k", seed=2023, candidates=100, cache_dir=prepared_cache)


def test_the_bootstrap_seed_moves_only_the_intervals(tmp_path, prepared_cache):
    _, default = bench(tmp_path, prepared_cache, "popularity", "direct", limit=100)
    _, explicit = bench(tmp_path, prepared_cache, "popularity", "direct", limit=100, bootstrap_seed=2023)
    _, other = bench(tmp_path, prepared_cache, "popularity", "direct", limit=100, bootstrap_seed=7)
    a, b = default["tasks"]["direct"], other["tasks"]["direct"]
    assert explicit["run_id"] == default["run_id"] != other["run_id"]  # unset means --seed: one run, not two
    assert a["bootstrap_seed"] == 2023 and b["bootstrap_seed"] == 7 and a["seed"] == b["seed"] == 2023
    assert a["sample_ids_sha256"] == b["sample_ids_sha256"]
    assert all(a["metrics"][m]["value"] == b["metrics"][m]["value"] for m in a["metrics"])
    assert any(a["metrics"][m]["ci"] != b["metrics"][m]["ci"] for m in a["metrics"])
