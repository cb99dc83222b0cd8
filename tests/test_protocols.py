"""--splits: the Amazon Reviews 2023 benchmark's protocols (amazon-last-out, amazon-timestamp) next to llmrec's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fixtures_data import kcore_rows, write_amazon_2014, write_amazon_2023
from llmrec.data import load_dataset, prepare_dataset, prepare_for_run
from llmrec.data.prepare import prepare
from llmrec.data.protocols import TEST_FROM_MS as T2
from llmrec.data.protocols import VALID_FROM_MS as T1
from llmrec.tasks import SampleOptions, get_task
from test_cli import one_line_error, run_cli

DAY_MS = 86_400_000
# movielens-100k's fingerprint at seed 2023, 99 negatives, kcore 5, as results/baselines/*.json record it
RECORDED_ML100K = "23ade4f9b6cd074cee148694d7375adec61c32929517b05cbd05944d72537ee6"


def row(user: str, item: str, ms: int, rating: float = 4.0) -> dict:
    return {"user": user, "item": item, "rating": rating, "time": ms // 1000, "time_ms": ms,
            "summary": f"{user} on {item}", "text": f"{user} wrote about {item}."}


def boundary_rows() -> list[dict]:
    """Items are named after their row. A: three rows in one second around T1 and three around T2 (file order
    not time order: only milliseconds order them); B: one row; C: two rows; D: a repeated item X (earliest kept)."""
    return [
        row("A", "a_t1+3", T1 + 3), row("A", "a_t1-5", T1 - 5), row("A", "a_t1", T1),
        row("A", "a_t2+2", T2 + 2), row("A", "a_t2-1", T2 - 1), row("A", "a_t2", T2),
        row("B", "b_t2+10", T2 + 10),
        row("C", "c_early", T1 - 1000), row("C", "c_late", T1 + 1000),
        row("D", "x", T2 + 5, rating=1.0), row("D", "y", T2 + 1), row("D", "x", T1 - 100, rating=5.0),
    ]


TIMESTAMP_LABELS = {"a_t1-5": "train", "a_t1": "valid", "a_t1+3": "valid", "a_t2-1": "valid", "a_t2": "test",
                    "a_t2+2": "test", "b_t2+10": "test", "c_early": "train", "c_late": "valid", "x": "train",
                    "y": "test"}
LAST_OUT_LABELS = {"a_t1-5": "train", "a_t1": "train", "a_t1+3": "train", "a_t2-1": "train", "a_t2": "valid",
                   "a_t2+2": "test", "b_t2+10": "test", "c_early": "valid", "c_late": "test", "x": "valid",
                   "y": "test"}


@pytest.fixture
def boundary(tmp_path) -> str:
    return f"amazon:{write_amazon_2023(tmp_path / 'beauty', boundary_rows())}"


def prepared_under(name: str, splits: str):
    return prepare(load_dataset(name, kcore=0, splits=splits), seed=1, negatives=2, splits=splits)


def labels_by_item(prepared, frame: str) -> dict[str, str]:
    source = prepared.items["source_id"]
    table = getattr(prepared, frame)
    return dict(zip(source[table["item"]].tolist(), table["split"].tolist()))


@pytest.mark.parametrize("splits, expected", [("amazon-timestamp", TIMESTAMP_LABELS),
                                              ("amazon-last-out", LAST_OUT_LABELS)])
def test_labels_match_the_official_rules_on_interactions_ratings_and_reviews(boundary, splits, expected):
    prepared = prepared_under(boundary, splits)
    for frame in ("interactions", "ratings", "reviews"):
        assert len(getattr(prepared, frame)) == len(expected)
        assert labels_by_item(prepared, frame) == expected, frame
    assert prepared.stats["duplicate_reviews_dropped"] == 1 and prepared.stats["splits"] == splits
    assert prepared.stats["reviews_split_from"] == splits.removeprefix("amazon-")
    assert prepared.stats["moved_to_train_ratings"] == prepared.stats["users_too_short_for_sequence"] == 0
    assert "timestamp_ms" not in prepared.interactions.columns and "timestamp_ms" not in prepared.reviews.columns


def test_rows_are_ordered_by_milliseconds_within_a_second(boundary):
    prepared = prepared_under(boundary, "amazon-last-out")
    items = prepared.items["source_id"][prepared.interactions["item"]].tolist()
    assert [i for i in items if i.startswith("a_")] == ["a_t1-5", "a_t1", "a_t1+3", "a_t2-1", "a_t2", "a_t2+2"]
    # the llmrec protocol orders by seconds as before: within one second, the file's order
    default = prepare(load_dataset(boundary, kcore=0), seed=1, negatives=2)
    items = default.items["source_id"][default.interactions["item"]].tolist()
    assert [i for i in items if i.startswith("a_t1")] == ["a_t1+3", "a_t1-5", "a_t1"]


def test_the_held_out_sample_is_the_users_first_row_of_the_split(boundary):
    prepared = prepared_under(boundary, "amazon-timestamp")
    source = prepared.items["source_id"]
    samples = get_task("sequential").build(prepared, SampleOptions(split="test", seed=1))
    by_target = {source[s.item]: [source[i] for i in s.variables["seen"]] for s in samples}
    assert by_target == {"a_t2": ["a_t1-5", "a_t1", "a_t1+3", "a_t2-1"], "b_t2+10": [], "y": ["x"]}
    assert len({s.sample_id for s in samples}) == len(samples) == 3
    assert prepared.stats["held_out_rows_not_first"] == {"valid": 2, "test": 1}
    assert prepared.stats["held_out_users_without_history"] == {"valid": 0, "test": 1}
    valid = get_task("direct").build(prepared, SampleOptions(split="valid", seed=1))
    assert sorted(source[s.item] for s in valid) == ["a_t1", "c_late"]
    assert all(len(s.candidates) == 3 for s in valid)
    # rating samples: every row of the split
    ratings = get_task("rating").build(prepared, SampleOptions(split="test", seed=1))
    assert sorted(source[s.item] for s in ratings) == ["a_t2", "a_t2+2", "b_t2+10", "y"]


def test_last_out_users_with_one_or_two_rows_are_samples_with_what_history_they_have(boundary):
    prepared = prepared_under(boundary, "amazon-last-out")
    source = prepared.items["source_id"]
    for split, expected in (("test", {"a_t2+2": 5, "b_t2+10": 0, "c_late": 1, "y": 1}),
                            ("valid", {"a_t2": 4, "c_early": 0, "x": 0})):
        samples = get_task("sequential").build(prepared, SampleOptions(split=split, seed=1))
        assert {source[s.item]: len(s.variables["seen"]) for s in samples} == expected
    assert prepared.stats["held_out_rows_not_first"] == {"valid": 0, "test": 0}
    assert prepared.stats["held_out_users_without_history"] == {"valid": 2, "test": 1}


def test_dedupe_keeps_the_earliest_review_and_ties_keep_the_file_order(tmp_path):
    rows = [row("U", "i", 2000, rating=1.0), row("U", "i", 1000, rating=5.0), row("U", "j", 3000, rating=2.0),
            row("U", "j", 3000, rating=4.0), row("V", "i", 500, rating=3.0)]
    name = f"amazon:{write_amazon_2023(tmp_path / 'b', rows)}"
    kept = load_dataset(name, kcore=0, splits="amazon-timestamp")
    assert kept.reviews[["user_id", "item_id", "rating", "timestamp_ms"]].values.tolist() == [
        ["U", "i", 5.0, 1000], ["U", "j", 2.0, 3000], ["V", "i", 3.0, 500]]
    assert kept.stats == {"reviews_in_source": 5, "duplicate_reviews_dropped": 2, "reviews_outside_kcore": 0}
    assert kept.interactions["timestamp_ms"].tolist() == [1000, 3000, 500]
    assert kept.interactions["timestamp"].tolist() == [1, 3, 0]
    everything = load_dataset(name, kcore=0)
    assert len(everything.reviews) == 5 and "duplicate_reviews_dropped" not in everything.stats


def test_dedupe_happens_before_kcore(tmp_path):
    """U9 reviews 4 core items, one of them twice: 5 reviews pass 5-core, 4 distinct ones do not."""
    rows = [r for r in kcore_rows() if r["item"] != "X" and r["user"] != "U9"]
    rows += [{**rows[0], "user": "U9", "item": f"B{i}", "time": 1_600_000_000 + i} for i in (0, 1, 2, 3, 3)]
    name = f"amazon:{write_amazon_2014(tmp_path / 'b', rows)}"
    assert "U9" in set(load_dataset(name, kcore=5).interactions["user_id"])
    deduped = load_dataset(name, kcore=5, splits="amazon-last-out")
    assert "U9" not in set(deduped.interactions["user_id"]) and len(deduped.interactions) == 25
    assert deduped.stats["duplicate_reviews_dropped"] == 1
    # 2014 times are seconds: timestamp_ms is seconds * 1000
    assert (deduped.interactions["timestamp_ms"] == deduped.interactions["timestamp"] * 1000).all()


def test_the_default_fingerprint_is_unchanged_and_each_protocol_has_its_own(tmp_path, boundary):
    assert prepare_for_run("movielens-100k", seed=2023, candidates=100, cache_dir=tmp_path / "ml").fingerprint \
        == RECORDED_ML100K
    cache = tmp_path / "cache"
    prints = {splits: prepare_dataset(boundary, kcore=0, negatives=2, splits=splits, cache_dir=cache).fingerprint
              for splits in ("llmrec", "amazon-last-out", "amazon-timestamp")}
    assert len(set(prints.values())) == 3
    manifests = {json.loads((p / "manifest.json").read_text())["fingerprint"]: json.loads(
        (p / "manifest.json").read_text())["settings"] for p in cache.iterdir() if not p.name.startswith(".")}
    assert manifests[prints["llmrec"]] == {"seed": 2023, "negatives": 2, "kcore": 0}
    assert manifests[prints["amazon-timestamp"]]["splits"] == "amazon-timestamp"
    warm = prepare_dataset(boundary, kcore=0, negatives=2, splits="amazon-timestamp", cache_dir=cache)
    assert warm.fingerprint == prints["amazon-timestamp"] and warm.stats["held_out_rows_not_first"]["test"] == 1


@pytest.mark.parametrize("command", [("data", "prepare"), ("data", "show"),
                                     ("bench", "--model", "popularity", "--task", "rating", "--dataset")])
def test_amazon_protocols_refuse_other_datasets_in_one_line(capsys, monkeypatch, tmp_path, command):
    monkeypatch.setenv("LLMREC_DATA_DIR", str(tmp_path / "data"))
    code, _, err = run_cli(capsys, monkeypatch, *command, "movielens-100k", "--splits", "amazon-timestamp",
                           *(("--output", tmp_path / "runs") if command[0] == "bench" else ()))
    line = one_line_error(code, err)
    assert "--splits amazon-timestamp" in line and "'movielens-100k'" in line and "amazon:PATH" in line
    assert not (tmp_path / "data" / "prepared").exists() and not (tmp_path / "runs").exists()
    code, _, err = run_cli(capsys, monkeypatch, "data", "prepare", "movielens-100k", "--splits", "amazon-lastout")
    assert "did you mean amazon-last-out?" in one_line_error(code, err)


def time_split_rows() -> list[dict]:
    """12 users x 9 items (5-core): each user's rows 60 days apart from T1 - 60 days, so 1 train, 6 valid and
    2 test rows per user; items 12-14 are never in train (cold items in valid and test)."""
    return [row(f"U{k:02d}", f"B{(k + j) % 15:03d}", T1 - 60 * DAY_MS + j * 60 * DAY_MS + k * 3_600_000,
                rating=float(1 + (k + j) % 5))
            for k in range(12) for j in range(9)]


def test_bench_runs_end_to_end_under_the_timestamp_protocol(capsys, monkeypatch, tmp_path):
    name = f"amazon:{write_amazon_2023(tmp_path / 'beauty', time_split_rows())}"
    monkeypatch.setenv("LLMREC_DATA_DIR", str(tmp_path / "data"))
    code, out, err = run_cli(capsys, monkeypatch, "bench", "--model", "popularity", "--task",
                             "sequential,direct,rating", "--dataset", name, "--splits", "amazon-timestamp",
                             "--candidates", "6", "--output", tmp_path / "runs")
    assert code == 0, err
    (folder,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((folder / "metrics.json").read_text())
    tasks = metrics["tasks"]
    assert {t: tasks[t]["n_samples"] for t in tasks} == {"sequential": 12, "direct": 12, "rating": 24}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["settings"]["splits"] == "amazon-timestamp"
    stats = manifest["tasks"]["sequential"]["prepared_stats"]
    assert stats["splits"] == "amazon-timestamp" and stats["interactions_split"] == {"train": 12, "valid": 72,
                                                                                      "test": 24}
    assert stats["held_out_rows_not_first"] == {"valid": 60, "test": 12}
    # popularity rates every pair, cold items too, with the global training mean
    train_mean = np.mean([r["rating"] for r in time_split_rows() if r["time_ms"] < T1])
    records = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    rated = [r for r in records if r["task"] == "rating"]
    assert len(rated) == 24 and all(abs(r["prediction"]["value"] - train_mean) < 1e-9 for r in rated)


def test_data_list_names_the_protocols(capsys, monkeypatch, tmp_path):
    from llmrec.data import SPLITS

    monkeypatch.setenv("LLMREC_DATA_DIR", str(tmp_path))
    code, out, err = run_cli(capsys, monkeypatch, "data", "list")
    assert code == 0, err
    listed = out.split("split protocols (--splits):\n")[1].splitlines()
    assert [line.split()[0] for line in listed[: len(SPLITS)]] == SPLITS.names()


def test_the_engine_and_the_line_reader_dedupe_alike(tmp_path):
    from llmrec.data import amazon

    rows = boundary_rows() + [row("A", "a_t1", T1 - 7, rating=2.0), row("A", "a_t1", T1 - 7, rating=3.0)]
    path = write_amazon_2023(tmp_path / "b", rows) / "All_Beauty.jsonl"
    release = amazon.review_format(path)
    engine_counts, line_counts = {}, {}
    engine = amazon.engine_kcore(path, release, 0, True, engine_counts)
    lines = amazon.line_kcore(path, release, 0, True, line_counts)
    assert engine.astype(object).equals(lines.astype(object)) and engine_counts == line_counts
    assert engine_counts["duplicate_reviews_dropped"] == 3 and len(engine) == len(TIMESTAMP_LABELS)
    assert engine_counts["reviews_in_source"] == len(rows) and engine_counts["reviews_outside_kcore"] == 0
    earliest = engine[engine["item_id"] == "a_t1"]
    assert earliest[["rating", "timestamp_ms"]].values.tolist() == [[2.0, T1 - 7]]


def test_classic_rating_models_rate_users_and_items_that_train_lacks(tmp_path):
    """Under the official protocols nothing moves to train: test holds items (and users) train has not seen."""
    from llmrec.recommenders import make_recommender
    from llmrec.types import Query

    rows = time_split_rows() + [row("NEW", "B000", T2 + 99, rating=2.0)]
    name = f"amazon:{write_amazon_2023(tmp_path / 'b', rows)}"
    prepared = prepare(load_dataset(name, kcore=0, splits="amazon-timestamp"), seed=1, negatives=5,
                       splits="amazon-timestamp")
    ratings = prepared.ratings
    train, test = ratings[ratings["split"] == "train"], ratings[ratings["split"] == "test"]
    (cold_user,) = set(test["user"]) - set(train["user"])
    cold_item = min(set(test["item"]) - set(train["item"]))
    warm_user, warm_item = int(train["user"].iloc[0]), int(train["item"].iloc[0])
    mean = float(train["rating"].mean())
    for model in ("user-mean", "item-mean", "popularity", "mf"):
        recommender = make_recommender(model, seed=1, device="cpu", options=None)
        recommender.fit(prepared)
        rates = [recommender.rate(Query(u, item=i)) for u, i in ((cold_user, warm_item), (warm_user, cold_item),
                                                               (cold_user, cold_item))]
        assert all(1.0 <= r <= 5.0 for r in rates), (model, rates)
        if model != "mf":  # the means fall back to the global training mean
            assert rates[2] == pytest.approx(mean)
    assert recommender.params["bu"][cold_user] == 0 and recommender.params["bi"][cold_item] == 0  # never trained
