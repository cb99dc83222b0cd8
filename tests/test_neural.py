"""The neural sequential recommenders and their shared trainer, on data made in code with an obvious pattern."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from neural_data import pattern_prepared

from llmrec.recommenders import make_recommender
from llmrec.recommenders.neural import NEURAL_MODELS
from llmrec.recommenders.neural.base import NeuralRecommender
from llmrec.recommenders.neural.trainer import CHECKPOINT
from llmrec.tasks.ranking import histories
from llmrec.types import Query

SMALL = {"hidden": 32, "max_length": 8, "batch_size": 32, "epochs": 40, "patience": 8, "lr": 5e-3}
NAMES = [cls.name for cls in NEURAL_MODELS]
OWN_SMALL: dict[str, dict] = {  # a model's own settings for these tests, where SMALL does not suit it
    "comirec-sa": {"lr": 1e-2},
}


def small(name: str, folder, **options) -> NeuralRecommender:
    model = make_recommender(name, seed=7, device="cpu", options={**SMALL, **OWN_SMALL.get(name, {}), **options})
    model.use_cache(folder, reuse=True)
    return model


def test_hit_rate(model, prepared, split="test", k=1) -> float:
    seen = histories(prepared, split)
    held = prepared.interactions[prepared.interactions["split"] == split]
    hits = [item in model.rank(Query(user, history=seen[user]))[:k] for user, item in zip(held["user"], held["item"])]
    return float(np.mean(hits))


test_hit_rate.__test__ = False  # a helper, not a test


@pytest.mark.parametrize("name", NAMES)
def test_learns_the_next_item_pattern(name, tmp_path):
    prepared = pattern_prepared()
    model = small(name, tmp_path)
    model.fit(prepared)
    assert model.fit_report()["valid_ndcg@10"] > 0.9
    assert test_hit_rate(model, prepared) > 0.9  # the test item, never trained on, comes first


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_weights_on_cpu(name, tmp_path):
    prepared = pattern_prepared()
    a, b = small(name, tmp_path / "a", epochs=3), small(name, tmp_path / "b", epochs=3)
    a.fit(prepared)
    b.fit(prepared)
    assert a.report["history"] == b.report["history"]
    assert all(torch.equal(a.weights[k], b.weights[k]) for k in a.weights)
    assert a.fit_report()["threads"] == torch.get_num_threads()  # another count trains slightly other weights


@pytest.mark.parametrize("name", NAMES)
def test_resumed_training_equals_uninterrupted(name, tmp_path, monkeypatch):
    prepared = pattern_prepared()
    whole = small(name, tmp_path / "whole", epochs=4, patience=10)
    whole.fit(prepared)

    def crash(epoch):
        if epoch == 2:
            raise KeyboardInterrupt

    original = NeuralRecommender.trainer
    with monkeypatch.context() as patch:
        def crashing(self, *args):
            trainer = original(self, *args)
            trainer.after_epoch = crash
            return trainer

        patch.setattr(NeuralRecommender, "trainer", crashing)
        with pytest.raises(KeyboardInterrupt):
            small(name, tmp_path / "resumed", epochs=4, patience=10).fit(prepared)
    assert len(list((tmp_path / "resumed").glob(f"*/{CHECKPOINT}"))) == 1
    resumed = small(name, tmp_path / "resumed", epochs=4, patience=10)
    resumed.fit(prepared)
    assert resumed.report["history"] == whole.report["history"]
    assert all(torch.equal(whole.weights[k], resumed.weights[k]) for k in whole.weights)
    assert not list((tmp_path / "resumed").glob(f"*/{CHECKPOINT}"))  # a finished training keeps only its model


def test_the_test_item_never_shapes_training(tmp_path):
    prepared = pattern_prepared()
    other = pattern_prepared()
    test = other.interactions["split"] == "test"
    other.interactions.loc[test, "item"] = other.interactions.loc[test, "item"] % 30 + 1  # other test items
    a, b = small("sasrec", tmp_path, epochs=2), small("sasrec", tmp_path, epochs=2)
    a.fit(prepared)
    b.fit(other)
    assert "reused" in b.fit_report()  # the same training data by content: the same trained model
    a.use_cache(tmp_path / "again", reuse=True)
    a.fit(other)
    assert all(torch.equal(a.weights[k], b.weights[k]) for k in a.weights)


def test_a_second_fit_reuses_the_trained_model_and_fresh_trains_again(tmp_path):
    prepared = pattern_prepared()
    first = small("sasrec", tmp_path, epochs=2)
    first.fit(prepared)
    assert "reused" not in first.fit_report()
    again = small("sasrec", tmp_path, epochs=2)
    again.fit(prepared)
    assert again.fit_report()["reused"] == first.fit_report()["folder"]
    fresh = small("sasrec", tmp_path, epochs=2)
    fresh.use_cache(tmp_path, reuse=False)
    fresh.fit(prepared)
    assert "reused" not in fresh.fit_report()
    other = small("sasrec", tmp_path, epochs=2, hidden=16)  # other hyperparameters: another model
    other.fit(prepared)
    assert "reused" not in other.fit_report() and other.fit_report()["key"] != first.fit_report()["key"]


def test_ranks_candidates_and_the_catalog_minus_the_history(tmp_path):
    prepared = pattern_prepared()
    model = small("sasrec", tmp_path, epochs=2)
    model.fit(prepared)
    history = [1, 2, 3]
    ranked = model.rank(Query(1, history=history))
    assert not set(ranked) & set(history) and len(ranked) == 27
    assert sorted(model.rank(Query(1, history=history, candidates=(9, 4, 17)))) == [4, 9, 17]


def test_bad_hyperparameters_are_one_line_errors():
    from llmrec.errors import LLMRecError

    with pytest.raises(LLMRecError, match="loss: sasrec takes one of ce, bce"):
        make_recommender("sasrec", seed=1, options={"loss": "hinge"})
    with pytest.raises(LLMRecError, match="hidden: sasrec expects int"):
        make_recommender("sasrec", seed=1, options={"hidden": "big"})
    with pytest.raises(LLMRecError, match="did you mean hidden"):
        make_recommender("sasrec", seed=1, options={"hiden": 3})


def test_bench_trains_once_for_both_tasks_reuses_it_and_fresh_trains_again(tmp_path, prepared_cache, monkeypatch):
    from llmrec.evaluation.runner import Bench, BenchConfig
    from llmrec.tasks import parse_task_list

    monkeypatch.setenv("LLMREC_HOME", str(tmp_path))

    def bench(output, **kw):
        config = BenchConfig(model="sasrec", tasks=parse_task_list("sequential,direct"), output=tmp_path / output,
                             data_dir=prepared_cache, limit=40, device="cpu",
                             model_args={"hidden": 16, "max_length": 20, "epochs": 2, "batch_size": 256}, **kw)
        runner = Bench(config)
        metrics = runner.run()
        return json.loads((runner.folder / "manifest.json").read_text())["model_info"], metrics

    info, metrics = bench("runs")
    fitted = info["fitted"]
    assert info["kind"] == "trained" and "reused" not in fitted["sequential"]  # the first task trained it,
    assert fitted["direct"]["reused"] == fitted["sequential"]["folder"]  # the second used it
    assert Path(fitted["sequential"]["folder"]).is_relative_to(tmp_path / "results" / "trained")
    assert metrics["tasks"]["direct"]["n_samples"] == 40
    again, same = bench("other-runs")  # another run folder: the trained model is found by content
    assert all("reused" in f for f in again["fitted"].values())
    assert same["tasks"]["direct"]["metrics"] == metrics["tasks"]["direct"]["metrics"]
    fresh, _ = bench("runs", fresh=True)
    assert "reused" not in fresh["fitted"]["sequential"] and "reused" in fresh["fitted"]["direct"]
