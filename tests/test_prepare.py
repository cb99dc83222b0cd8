"""prepare_dataset: deterministic ids, splits and negatives; the on-disk cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fixtures_data import atomic_items, review_rows, write_amazon_2014, write_atomic, write_p5
from llmrec.data import load_dataset, prepare_dataset
from llmrec.data import splits
from llmrec.data.splits import sample_negatives
from llmrec.errors import LLMRecError


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def only_entry(cache: Path) -> Path:
    entries = [p for p in cache.iterdir() if not p.name.startswith(".")]
    assert len(entries) == 1, entries
    return entries[0]


@pytest.fixture(scope="module")
def ml100k_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def ml100k(ml100k_cache):
    return prepare_dataset("movielens-100k", cache_dir=ml100k_cache)


# ---- determinism and the cache -------------------------------------------------------------------


def test_same_seed_is_byte_identical_and_another_seed_differs(tmp_path):
    name = f"amazon:{write_amazon_2014(tmp_path / 'beauty')}"
    for cache in ("a", "b"):
        prepare_dataset(name, cache_dir=tmp_path / cache, negatives=5)
    a, b = only_entry(tmp_path / "a"), only_entry(tmp_path / "b")
    assert a.name == b.name
    assert {"items.parquet", "interactions.parquet", "ratings.parquet", "reviews.parquet", "negatives.npy", "manifest.json"} <= set(
        folder_bytes(a)
    )
    assert folder_bytes(a) == folder_bytes(b)

    prepare_dataset(name, cache_dir=tmp_path / "c", negatives=5, seed=7)
    c = only_entry(tmp_path / "c")
    assert c.name != a.name
    other = folder_bytes(c)
    for file in ("items.parquet", "interactions.parquet", "negatives.npy"):
        assert other[file] != folder_bytes(a)[file]


def test_real_movielens_is_byte_identical_across_cache_dirs(tmp_path, ml100k, ml100k_cache):
    again = prepare_dataset("movielens-100k", cache_dir=tmp_path)
    assert again.fingerprint == ml100k.fingerprint
    assert folder_bytes(only_entry(ml100k_cache)) == folder_bytes(only_entry(tmp_path))


def test_warm_call_reads_cache_without_loading(tmp_path, monkeypatch):
    name = f"amazon:{write_amazon_2014(tmp_path / 'beauty')}"
    cold = prepare_dataset(name, cache_dir=tmp_path / "cache", negatives=5)
    import llmrec.data

    def no_load(*a, **k):
        raise AssertionError("the warm call must not load the source")

    monkeypatch.setattr(llmrec.data, "load_dataset", no_load)
    warm = prepare_dataset(name, cache_dir=tmp_path / "cache", negatives=5)
    for frame in ("items", "interactions", "ratings", "reviews"):
        pd.testing.assert_frame_equal(getattr(cold, frame), getattr(warm, frame))
    assert np.array_equal(cold.negatives, warm.negatives)
    assert cold.stats == warm.stats and warm.fingerprint == cold.fingerprint
    with pytest.raises(AssertionError, match="must not load"):
        prepare_dataset(name, cache_dir=tmp_path / "cache", negatives=5, refresh=True)


def test_changed_source_or_settings_or_damage_means_new_preparation(tmp_path):
    folder = write_amazon_2014(tmp_path / "beauty")
    name, cache = f"amazon:{folder}", tmp_path / "cache"
    first = prepare_dataset(name, cache_dir=cache, negatives=5)
    assert prepare_dataset(name, cache_dir=cache, negatives=4).fingerprint != first.fingerprint
    assert prepare_dataset(name, cache_dir=cache, negatives=5, kcore=3).fingerprint != first.fingerprint

    reviews = folder / "reviews_Beauty_5.json"
    reviews.write_text(reviews.read_text().replace("review text by user 0", "changed text by user 0"))
    changed = prepare_dataset(name, cache_dir=cache, negatives=5)
    assert changed.fingerprint != first.fingerprint
    assert changed.reviews["text"].str.startswith("changed text").sum() == 8

    # A damaged cached file is detected by its hash and prepared again.
    target = cache / f"amazon-beauty-{changed.fingerprint[:12]}"
    (target / "negatives.npy").write_bytes(b"garbage")
    again = prepare_dataset(name, cache_dir=cache, negatives=5)
    assert np.array_equal(again.negatives, changed.negatives)
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["settings"] == {"seed": 2023, "negatives": 5, "kcore": 5}
    assert manifest["rows"]["reviews"] == len(review_rows())


def test_a_manifest_edited_into_other_valid_json_is_prepared_again(tmp_path):
    # the stats and settings come from the manifest: its own digest catches a changed key or value
    name, cache = f"amazon:{write_amazon_2014(tmp_path / 'beauty')}", tmp_path / "cache"
    first = prepare_dataset(name, cache_dir=cache, negatives=5)
    path = only_entry(cache) / "manifest.json"
    for old, new in (('"moved_to_train_reviews"', '"moved_to_train_rev1e30iews"'), ('"seed": 2023', '"seed": 7')):
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new))
        again = prepare_dataset(name, cache_dir=cache, negatives=5)
        assert again.stats == first.stats and again.seed == first.seed
        assert path.read_text() == text  # written again, as it was


def test_default_cache_dir_is_cwd_relative_and_env_overrides(tmp_path, monkeypatch):
    folder = write_amazon_2014(tmp_path / "beauty")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLMREC_DATA_DIR", raising=False)
    prepare_dataset(f"amazon:{folder}", negatives=5)
    assert only_entry(tmp_path / "data" / "prepared").name.startswith("amazon-beauty-")
    monkeypatch.setenv("LLMREC_DATA_DIR", str(tmp_path / "elsewhere"))
    prepare_dataset(f"amazon:{folder}", negatives=5)
    assert only_entry(tmp_path / "elsewhere" / "prepared").name.startswith("amazon-beauty-")


def test_too_few_unseen_items_for_negatives_caches_nothing(tmp_path):
    name = f"amazon:{write_amazon_2014(tmp_path / 'beauty')}"  # 15 items, 8 seen per user
    with pytest.raises(LLMRecError, match=r"has only 7 never-seen items, fewer than the 8 negatives"):
        prepare_dataset(name, cache_dir=tmp_path / "cache", negatives=8)
    assert not (tmp_path / "cache").exists()
    with pytest.raises(LLMRecError, match=r"--negatives: expected an integer >= 0"):
        prepare_dataset(name, cache_dir=tmp_path / "cache", negatives=-1)


# ---- split invariants ----------------------------------------------------------------------------


def test_ids_are_a_seeded_permutation(ml100k):
    items, inter = ml100k.items, ml100k.interactions
    assert items.index.tolist() == list(range(1, 1683))
    assert sorted(inter["user"].unique()) == list(range(1, 944))
    # Not the source order: P5-style consecutive ids would leak the answer.
    assert (items["source_id"].astype(int).to_numpy() != items.index.to_numpy()).mean() > 0.9
    source = load_dataset("movielens-100k").items.set_index("item_id")["title"]
    assert (items["title"] == source.loc[items["source_id"]].to_numpy()).all()


def test_leave_one_out_last_item_is_test(ml100k):
    inter = ml100k.interactions
    assert ml100k.stats["users_too_short_for_sequence"] == 0
    last = inter.groupby("user").tail(1)
    second = inter.groupby("user").nth(-2)
    assert (last["split"] == "test").all() and (second["split"] == "valid").all()
    assert (inter["split"] == "test").sum() == (inter["split"] == "valid").sum() == 943
    # Sorted by (user, time): the test row has the latest timestamp of its user.
    assert (last.set_index("user")["timestamp"] == inter.groupby("user")["timestamp"].max()).all()


def test_ratings_valid_and_test_users_and_items_appear_in_train(ml100k):
    ratings = ml100k.ratings
    train = ratings[ratings["split"] == "train"]
    held = ratings[ratings["split"] != "train"]
    assert set(held["user"]) <= set(train["user"]) and set(held["item"]) <= set(train["item"])
    share = ratings["split"].value_counts(normalize=True)
    assert 0.79 < share["train"] < 0.82 and 0.09 < share["test"] < 0.11
    assert ml100k.stats["moved_to_train_ratings"] > 0  # the rule did act on the real data


def test_negatives_are_distinct_never_seen_and_counted(ml100k):
    neg = ml100k.negatives
    assert neg.shape == (944, 99) and (neg[0] == 0).all()
    assert neg[1:].min() >= 1 and neg.max() <= 1682
    assert all(len(set(row)) == 99 for row in neg[1:])
    seen = ml100k.interactions.groupby("user")["item"].apply(set)
    assert all(not (set(neg[u]) & seen[u]) for u in seen.index)


def test_negative_sampling_is_uniform_over_unseen_items():
    # 1 user, 10 items, items 1..5 seen: 5 negatives from 6..10 -> always exactly {6..10}.
    seen = np.array([1 * 11 + i for i in range(1, 6)])
    assert set(sample_negatives(seen, 1, 10, 5, seed=1)[1]) == {6, 7, 8, 9, 10}
    # Many users, 1 of 20 items seen each: every unseen item is drawn about equally often.
    n_users, n_items = 40_000, 20
    seen = np.arange(1, n_users + 1) * (n_items + 1) + 1
    counts = np.bincount(sample_negatives(seen, n_users, n_items, 3, seed=3)[1:].ravel(), minlength=n_items + 1)
    assert counts[1] == 0
    expected = n_users * 3 / 19
    assert np.abs(counts[2:] - expected).max() < 0.05 * expected  # sd is about 1.3%


def test_negatives_do_not_depend_on_the_block_size(monkeypatch):
    """Draws are judged a block of users at a time to bound memory; the blocks must not change the result."""
    rng = np.random.default_rng(7)
    n_users, n_items, count = 300, 120, 40  # several rounds: users who saw most items need redraws
    seen = np.concatenate([u * (n_items + 1) + rng.choice(np.arange(1, n_items + 1), int(rng.integers(0, 80)),
                                                           replace=False) for u in range(1, n_users + 1)])
    results = []
    for block in (1, 37, 1 << 22):
        monkeypatch.setattr(splits, "DRAWS_PER_BLOCK", block)
        results.append(sample_negatives(seen, n_users, n_items, count, seed=11))
    assert all(np.array_equal(results[0], r) for r in results[1:])
    rows = results[0][1:]
    assert all(len(set(row)) == count for row in rows)


def test_equal_timestamps_keep_file_order_and_short_users(tmp_path):
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    lines += ["a\tm3\t4\t5", "a\tm1\t4\t5", "a\tm2\t4\t5", "a\tm0\t4\t1"]  # ties at t=5
    lines += ["b\tm0\t3\t9", "b\tm1\t3\t8"] + [f"c\tm{i}\t2\t{i}" for i in range(4)]
    folder = write_atomic(tmp_path / "ties", lines, atomic_items(12))
    prepared = prepare_dataset(f"atomic:{folder}", cache_dir=tmp_path / "cache", negatives=0)
    source = prepared.items["source_id"]
    inter = prepared.interactions
    by_user = {tuple(source[g["item"]].tolist()): g["split"].tolist() for _, g in inter.groupby("user")}
    assert by_user[("m0", "m3", "m1", "m2")] == ["train", "train", "valid", "test"]
    assert by_user[("m1", "m0")] == ["train", "train"]  # b: 2 interactions, kept as train, time-sorted
    assert prepared.stats["users_too_short_for_sequence"] == 1
    assert prepared.items.loc[source[source == "m3"].index[0], "title"] == "Movie 3 (1993)"


def test_amazon_ratings_and_reviews_share_one_split(tmp_path):
    prepared = prepare_dataset(f"amazon:{write_amazon_2014(tmp_path / 'b')}", cache_dir=tmp_path / "c", negatives=5)
    keys = ["user", "item", "timestamp"]
    merged = prepared.ratings.merge(prepared.reviews, on=keys, suffixes=("_r", "_v"))
    assert len(merged) == len(prepared.reviews) == len(review_rows())
    assert (merged["split_r"] == merged["split_v"]).all()
    seen = set(zip(prepared.reviews["user"], prepared.reviews["item"]))
    assert not any((u, int(i)) in seen for u in range(1, prepared.negatives.shape[0]) for i in prepared.negatives[u])


def test_brands_survive_preparation_and_the_cache_and_move_the_fingerprint(tmp_path, ml100k):
    from llmrec.data.cache import SourceHashes, fingerprint

    name = f"amazon:{write_amazon_2014(tmp_path / 'b')}"
    cold = prepare_dataset(name, cache_dir=tmp_path / "c", negatives=5)
    warm = prepare_dataset(name, cache_dir=tmp_path / "c", negatives=5)
    assert list(cold.items.columns) == ["title", "category", "brand", "source_id"]
    assert (cold.items["brand"] == "b").all() and warm.items.equals(cold.items)
    # the amazon loader's version 2 (brands) is in its fingerprint: caches made before it are not reused
    hashes = [SourceHashes(tmp_path / "c").sha256(Path(s["path"])) for s in
              json.loads(next((tmp_path / "c").glob("*/manifest.json")).read_text())["sources"]]
    settings = {"seed": 2023, "negatives": 5, "kcore": 5}
    assert cold.fingerprint == fingerprint(name, hashes, settings, 2) != fingerprint(name, hashes, settings)
    assert "brand" not in ml100k.items.columns  # MovieLens names no brand: its data and fingerprint are as before


def test_clothing_reviews_keep_held_out_rows(tmp_path):
    prepared = prepare_dataset("clothing-reviews", cache_dir=tmp_path, negatives=5)
    counts = prepared.stats["reviews_split"]
    assert counts["test"] > 1500 and counts["valid"] > 1500
    train_items = set(prepared.reviews.loc[prepared.reviews["split"] == "train", "item"])
    assert set(prepared.reviews.loc[prepared.reviews["split"] != "train", "item"]) <= train_items
    assert prepared.stats["users_too_short_for_sequence"] == 19_675


def test_p5_source_split_and_negatives_are_used(tmp_path):
    folder = write_p5(tmp_path / "beauty", negatives=4)
    prepared = prepare_dataset(f"p5:{folder}", cache_dir=tmp_path / "cache", negatives=4)
    assert prepared.stats["negatives_from"] == "source" and prepared.stats["reviews_split_from"] == "source"
    assert prepared.stats["ratings_from"] == "reviews"
    # The pickled val split (every 6th review from the 3rd) is kept as "valid".
    rows = review_rows()
    assert prepared.stats["reviews_split"]["valid"] == len(rows[2::6])
    assert (prepared.ratings["split"].value_counts() == prepared.reviews["split"].value_counts()).all()
    # Shipped negatives arrive in new ids: user U00's are B008..B011.
    source = prepared.items["source_id"]
    users = prepared.interactions.groupby("user")["item"].apply(list)
    u00 = next(u for u, its in users.items() if source[its[0]] == "B000" and source[its[1]] == "B001")
    assert source[prepared.negatives[u00]].tolist() == ["B008", "B009", "B010", "B011"]
    assert prepared.stats["negatives_seen_by_user"] == 0
    with pytest.raises(LLMRecError, match="ships 4 negatives per user; asked for 99"):
        prepare_dataset(f"p5:{folder}", cache_dir=tmp_path / "cache2")


def test_movielens_1m_warm_cache_equals_cold(tmp_path):
    """Speed is measured in benchmarks/run.py; here the cache must give back exactly what was prepared."""
    cold = prepare_dataset("movielens-1m", cache_dir=tmp_path)
    warm = prepare_dataset("movielens-1m", cache_dir=tmp_path)
    assert len(warm.ratings) == 1_000_209 and warm.negatives.shape == (6_041, 99)
    assert cold.stats == warm.stats
    assert (cold.negatives == warm.negatives).all()
    assert cold.interactions.equals(warm.interactions)
