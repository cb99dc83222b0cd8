"""The columnar engine reads Amazon reviews exactly as the line reader does, and hands it whatever it cannot type."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmrec.data import amazon, columnar
from fixtures_data import kcore_rows, review_rows, write_amazon_2014, write_amazon_2018, write_amazon_2023

# Texts whose cleaning (strip + html.unescape) needs Python, including whitespace only Python strips.
AWKWARD_TEXTS = ["  padded  ", "a &amp; b", "&quot;quoted&quot;", "\x1cfile separator\x1f", "\u3000ideographic\u3000",
                 "tab\t", "\u00a0nbsp", "caf\u00e9 \u2603", "", "no change", "&#39;"]


def rows_with_awkward_texts() -> list[dict]:
    rows = review_rows()
    for n, row in enumerate(rows):
        row["text"] = AWKWARD_TEXTS[n % len(AWKWARD_TEXTS)]
        row["summary"] = AWKWARD_TEXTS[(n + 3) % len(AWKWARD_TEXTS)]
    return rows


WRITERS = {
    "2014": lambda tmp, rows: write_amazon_2014(tmp / "a2014", rows) / "reviews_Beauty_5.json",
    "2018": lambda tmp, rows: write_amazon_2018(tmp / "a2018.json", rows),
    "2023": lambda tmp, rows: write_amazon_2023(tmp / "a2023", rows) / "All_Beauty.jsonl",
}


@pytest.mark.parametrize("release", sorted(WRITERS))
@pytest.mark.parametrize("kcore", [0, 5, 9])
def test_engine_and_line_reader_agree(tmp_path, release, kcore):
    path = WRITERS[release](tmp_path, rows_with_awkward_texts())
    fmt = amazon.review_format(path)
    engine = amazon.engine_kcore(path, fmt, kcore)  # the engine reads these files itself (no refusal)
    lines = amazon.line_kcore(path, fmt, kcore)
    pd.testing.assert_frame_equal(engine.astype(object), lines.astype(object))
    if kcore == 9:  # every user has 8 reviews: nothing is left, in both readers
        assert engine.empty
        return
    assert engine["text"].tolist()[:len(AWKWARD_TEXTS)] == [t.strip().replace("&amp;", "&").replace("&quot;", '"')
                                                            .replace("&#39;", "'") for t in AWKWARD_TEXTS]


def test_kcore_drops_in_rounds(tmp_path):
    path = write_amazon_2018(tmp_path / "k.json", kcore_rows())
    kept = amazon.engine_kcore(path, amazon.review_format(path), 5)
    assert set(kept["user_id"]) == {f"U{u}" for u in range(5)} and set(kept["item_id"]) == {f"B{i}" for i in range(5)}


def write_lines(path, records) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


@pytest.mark.parametrize("odd", [
    {"asin": 12345},  # a number where the engine expects text: the line reader makes it "12345"
    {"overall": "4"},  # a rating written as text
    {"unixReviewTime": "1400000000"},
])
def test_a_file_the_engine_refuses_is_read_line_by_line(tmp_path, odd):
    rows = [{"reviewerID": f"U{u}", "asin": f"B{i}", "overall": 5.0, "unixReviewTime": 1_400_000_000 + i,
             "summary": "s", "reviewText": "t"} for u in range(3) for i in range(3)]
    rows[4] = {**rows[4], **odd}
    path = tmp_path / "odd.json"
    write_lines(path, rows)
    fmt = amazon.review_format(path)
    with pytest.raises(columnar.Refused):
        amazon.engine_kcore(path, fmt, 0)
    loaded = amazon.load_amazon(str(path), kcore=0)
    assert len(loaded.reviews) == 9
    assert loaded.reviews.iloc[4][{"asin": "item_id", "overall": "rating", "unixReviewTime": "timestamp"}[next(iter(odd))]] \
        == {"asin": "12345", "overall": 4.0, "unixReviewTime": 1_400_000_000}[next(iter(odd))]


def test_bad_utf8_is_refused_by_the_engine_and_named_by_the_line_reader(tmp_path):
    path = tmp_path / "bad.json"
    good = json.dumps({"reviewerID": "U", "asin": "B", "overall": 5, "unixReviewTime": 1, "reviewText": "x"})
    path.write_bytes((good + "\n").encode() + good.replace('"x"', '"\xff"').encode("latin-1") + b"\n")
    with pytest.raises(columnar.Refused):
        amazon.engine_kcore(path, amazon.review_format(path), 0)
    with pytest.raises(Exception, match=r"bad.json:2: not UTF-8"):
        amazon.load_amazon(str(path), kcore=0)


def naive_kcore(users: list[int], items: list[int], k: int) -> set[int]:
    rows = set(range(len(users)))
    while True:
        uc, ic = {}, {}
        for r in rows:
            uc[users[r]] = uc.get(users[r], 0) + 1
            ic[items[r]] = ic.get(items[r], 0) + 1
        drop = {r for r in rows if uc[users[r]] < k or ic[items[r]] < k}
        if not drop:
            return rows
        rows -= drop


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=80), st.integers(0, 5))
def test_kcore_rows_is_the_k_core(pairs, k):
    users, items = [u for u, _ in pairs], [i for _, i in pairs]
    mask = columnar.kcore_rows(np.array(users, dtype=np.int64), np.array(items, dtype=np.int64), k)
    expected = set(range(len(pairs))) if k <= 1 else naive_kcore(users, items, k)
    assert set(np.flatnonzero(mask).tolist()) == expected


META_2018 = [
    {"asin": "B1", "title": "Tea &amp; Biscuits", "category": ["Grocery", "Tea", "Tea"], "brand": "x"},
    {"asin": "B2", "title": "  padded title ", "categories": ["A", " B "], "price": "$3"},
    {"asin": "B1", "title": "a later line for B1 (the first one wins)"},
    {"parent_asin": "P3", "asin": "C3", "title": "2023 style", "categories": [], "main_category": "All Beauty",
     "store": "Acme &amp; Sons"},
    {"asin": "UNWANTED", "title": "never reviewed"},
    {"asin": " B4 ", "title": "padded asin: not the wanted B4, as the line reader reads it"},
    {"asin": "B5", "title": None, "category": None},
]


def test_engine_and_line_metadata_agree(tmp_path):
    path = tmp_path / "meta.json"
    write_lines(path, META_2018)
    wanted = {"B1", "B2", "P3", "B4", "B5", "NOT_IN_META"}
    engine = amazon.engine_metadata(path, wanted)  # no refusal: the engine reads this file itself
    assert engine == amazon.line_metadata(path, wanted)
    assert engine == {"B1": ("Tea & Biscuits", "Grocery, Tea", "x"), "B2": ("padded title", "A, B", ""),
                      "P3": ("2023 style", "All Beauty", "Acme & Sons"), "B5": ("", "", "")}


def test_metadata_the_engine_refuses_is_read_line_by_line(tmp_path):
    path = tmp_path / "meta.json"
    write_lines(path, META_2018 + [{"asin": "B6", "categories": [["Beauty", "Skin"]]}])  # 2014 paths, as JSON
    with pytest.raises(columnar.Refused):
        amazon.engine_metadata(path, {"B6"})
    assert amazon.read_metadata(path, {"B1", "B6"}) == {"B1": ("Tea & Biscuits", "Grocery, Tea", "x"),
                                                         "B6": ("", "Beauty, Skin", "")}


def test_what_the_k_core_drops_is_counted(tmp_path):
    path = write_amazon_2018(tmp_path / "k.json", kcore_rows())
    dataset = amazon.load_amazon(str(path), kcore=5)
    assert dataset.stats == {"reviews_in_source": 33, "reviews_outside_kcore": 8}
    assert len(dataset.reviews) == 25
