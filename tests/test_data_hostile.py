"""Hostile and careless data files: each gets one LLMRecError line naming the file (and line), or loads into a
valid dataset; nothing is cached from a failed load. One test per class of the reliability campaign."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from fixtures_data import atomic_rows, review_rows, write_amazon_2014, write_amazon_2023, write_atomic, write_p5
from test_cli import run_cli
from llmrec.data import load_dataset, prepare_dataset
from llmrec.errors import LLMRecError

DEEP = "[" * 200_000 + "]" * 200_000


def fails(tmp_path: Path, name: str, path: Path, pattern: str, **settings) -> str:
    """prepare_dataset(name) raises one line that names `path` and matches `pattern`; the cache stays empty."""
    cache = tmp_path / "cache"
    with pytest.raises(LLMRecError) as raised:
        prepare_dataset(name, cache_dir=cache, negatives=settings.pop("negatives", 2), **settings)
    message = str(raised.value)
    assert str(path) in message and "\n" not in message, message
    assert re.search(pattern, message), message
    assert not cache.exists() or not any(p for p in cache.iterdir() if p.name != ".source-hashes.json"), message
    return message


def amazon_line(tmp_path: Path, line_no: int, **fields) -> tuple[str, Path]:
    """The 2014 fixture with fields of one review line replaced (a value None deletes the key)."""
    folder = write_amazon_2014(tmp_path / "amazon", meta=False)
    path = folder / "reviews_Beauty_5.json"
    lines = path.read_text().splitlines()
    record = json.loads(lines[line_no - 1])
    record.update(fields)
    lines[line_no - 1] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    return f"amazon:{folder}", path


def set_line(path: Path, line_no: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[line_no - 1] = text
    path.write_text("\n".join(lines) + "\n")


# ---- non-finite and out-of-range numbers ---------------------------------------------------------


@pytest.mark.parametrize("value", [1e30, float("inf"), float("nan"), -1e30, 10**400])
def test_amazon_time_out_of_range_names_file_and_line(tmp_path, value):
    name, path = amazon_line(tmp_path, 3, unixReviewTime=value)
    fails(tmp_path, name, path, r":3: expected a Unix time .*'unixReviewTime'")


def test_amazon_2023_millisecond_time_out_of_range(tmp_path):
    folder = write_amazon_2023(tmp_path / "a23")
    path = folder / "All_Beauty.jsonl"
    record = json.loads(path.read_text().splitlines()[1])
    set_line(path, 2, json.dumps({**record, "timestamp": 1e30}))
    fails(tmp_path, f"amazon:{folder}", path, r":2: expected a Unix time .*'timestamp'")


@pytest.mark.parametrize("value", [0, 7, -3, 5.5, float("inf"), float("nan"), 10**400])
def test_amazon_rating_outside_one_to_five_is_refused(tmp_path, value):
    name, path = amazon_line(tmp_path, 4, overall=value)
    fails(tmp_path, name, path, r":4: expected a rating from 1 to 5 for 'overall'")


@pytest.mark.parametrize("value, ok", [("abc", False), (10**30, False), (float("nan"), False), ("1400000000", True)])
def test_p5_review_time_strings_and_huge_ints(tmp_path, value, ok):
    folder = write_p5(tmp_path / "p5")
    splits = pickle.loads((folder / "review_splits.pkl").read_bytes())
    splits["train"][1]["unixReviewTime"] = value
    (folder / "review_splits.pkl").write_bytes(pickle.dumps(splits))
    if ok:
        assert load_dataset(f"p5:{folder}").reviews["timestamp"].iloc[1] == 1_400_000_000
    else:
        fails(tmp_path, f"p5:{folder}", folder / "review_splits.pkl",
              r"review_splits.pkl: train record 2: expected a Unix time .*'unixReviewTime'", negatives=4)


@pytest.mark.parametrize("value", [0, 6, float("inf"), "five"])
def test_p5_review_rating_outside_scale(tmp_path, value):
    folder = write_p5(tmp_path / "p5")
    splits = pickle.loads((folder / "review_splits.pkl").read_bytes())
    splits["test"][0]["overall"] = value
    (folder / "review_splits.pkl").write_bytes(pickle.dumps(splits))
    fails(tmp_path, f"p5:{folder}", folder / "review_splits.pkl",
          r"test record 1: expected a (rating from 1 to 5|number) for 'overall'", negatives=4)


@pytest.mark.parametrize("value", ["1e30", "inf", "nan", "-1e30"])
def test_atomic_time_out_of_range(tmp_path, value):
    lines = atomic_rows()
    lines[3] = "\t".join(lines[3].split("\t")[:3] + [value])
    folder = write_atomic(tmp_path / "at", lines)
    fails(tmp_path, f"atomic:{folder}", folder / "toy.inter",
          r"toy.inter:4: expected a (Unix time .*|number for )'timestamp'")


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_atomic_non_finite_rating(tmp_path, value):
    lines = atomic_rows()
    lines[5] = "\t".join(lines[5].split("\t")[:2] + [value] + lines[5].split("\t")[3:])
    folder = write_atomic(tmp_path / "at", lines)
    fails(tmp_path, f"atomic:{folder}", folder / "toy.inter", r"toy.inter:6: expected a (finite )?number for 'rating'")


def test_atomic_rating_outside_scale_is_unrated_and_counted(tmp_path):
    lines = atomic_rows()
    for row, value in ((2, "0"), (3, "7"), (4, "-3")):
        lines[row] = "\t".join(lines[row].split("\t")[:2] + [value] + lines[row].split("\t")[3:])
    folder = write_atomic(tmp_path / "at", lines)
    prepared = prepare_dataset(f"atomic:{folder}", cache_dir=tmp_path / "cache", negatives=2)
    assert prepared.stats["ratings_outside_scale"] == 3
    assert len(prepared.interactions) == len(lines) - 1  # the interactions stay
    assert len(prepared.ratings) == len(lines) - 4 and prepared.ratings["rating"].between(1, 5).all()


# ---- pathological files --------------------------------------------------------------------------


def test_json_nested_200000_deep(tmp_path):
    folder = write_amazon_2014(tmp_path / "amazon", meta=False)
    path = folder / "reviews_Beauty_5.json"
    set_line(path, 2, DEEP)
    fails(tmp_path, f"amazon:{folder}", path, r":2: expected a JSON object per line")
    p5 = write_p5(tmp_path / "p5")
    (p5 / "datamaps.json").write_text(DEEP)
    fails(tmp_path, f"p5:{p5}", p5 / "datamaps.json", r"datamaps.json:1: expected JSON")


def _gzip_reviews(tmp_path: Path) -> tuple[Path, bytes]:
    folder = write_amazon_2014(tmp_path / "amazon", meta=False)
    plain = folder / "reviews_Beauty_5.json"
    data = gzip.compress(plain.read_bytes(), mtime=0)
    plain.unlink()
    return folder / "reviews_Beauty_5.json.gz", data


def test_gzip_with_corrupt_body(tmp_path):
    path, data = _gzip_reviews(tmp_path)
    path.write_bytes(data[:20] + bytes(b ^ 0x5A for b in data[20:60]) + data[60:])
    fails(tmp_path, f"amazon:{path.parent}", path, r"corrupt gzip")


def test_truncated_gzip_says_truncated(tmp_path):
    path, data = _gzip_reviews(tmp_path)
    path.write_bytes(data[: len(data) // 2])
    message = fails(tmp_path, f"amazon:{path.parent}", path, r"truncated gzip")
    assert "UTF-8" not in message


def test_non_utf8_text_names_the_line(tmp_path):
    folder = write_amazon_2014(tmp_path / "amazon", meta=False)
    path = folder / "reviews_Beauty_5.json"
    lines = path.read_bytes().split(b"\n")
    lines[4] = lines[4].replace(b"review text", b"review \xff\xfe text")
    path.write_bytes(b"\n".join(lines))
    fails(tmp_path, f"amazon:{folder}", path, r":5: not UTF-8 text")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("kind", ["amazon", "atomic", "p5", "hf"])
def test_fifo_or_device_as_dataset_path(tmp_path, kind):
    fifo = tmp_path / "reviews.json"
    os.mkfifo(fifo)  # opening it for reading would block forever
    fails(tmp_path, f"{kind}:{fifo}", fifo, r"not a regular file or folder")
    fails(tmp_path, f"{kind}:/dev/null", Path("/dev/null"), r"not a regular file or folder")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_inside_a_source_folder(tmp_path):
    atomic = write_atomic(tmp_path / "at", atomic_rows())
    (atomic / "toy.inter").unlink()
    os.mkfifo(atomic / "toy.inter")
    fails(tmp_path, f"atomic:{atomic}", atomic / "toy.inter", r"not a regular file")
    p5 = write_p5(tmp_path / "p5")
    (p5 / "negative_samples.txt").unlink()
    os.mkfifo(p5 / "negative_samples.txt")
    fails(tmp_path, f"p5:{p5}", p5 / "negative_samples.txt", r"not a regular file")


# ---- wrong shapes --------------------------------------------------------------------------------


@pytest.mark.parametrize("maps", [
    {"id2user": [["1", "U00"]], "id2item": {"1": "B000"}},
    {"id2user": {"1": "U00"}, "id2item": ["B000"]},
    {"id2user": {"1": ["U00"]}, "id2item": {"1": "B000"}},
    ["id2user", "id2item"],
])
def test_p5_datamaps_of_the_wrong_shape(tmp_path, maps):
    folder = write_p5(tmp_path / "p5")
    (folder / "datamaps.json").write_text(json.dumps(maps))
    fails(tmp_path, f"p5:{folder}", folder / "datamaps.json", r"datamaps.json:1: expected")


def test_p5_datamaps_not_utf8(tmp_path):
    folder = write_p5(tmp_path / "p5")
    path = folder / "datamaps.json"
    path.write_bytes(path.read_bytes().replace(b'"U00"', b'"U\xe900"'))
    fails(tmp_path, f"p5:{folder}", path, r"datamaps.json:1: not UTF-8 text")


@pytest.mark.parametrize("table", ["[1, 2]", '"text"', '{"x": 5}', '{"x": {"size": "a", "sha256": 3}}', DEEP,
                                   "\xff not json"])
def test_source_hash_cache_of_the_wrong_shape_is_rebuilt(tmp_path, table):
    folder = write_amazon_2014(tmp_path / "amazon")
    cache = tmp_path / "cache"
    first = prepare_dataset(f"amazon:{folder}", cache_dir=cache, negatives=5)
    (cache / ".source-hashes.json").write_text(table)
    again = prepare_dataset(f"amazon:{folder}", cache_dir=cache, negatives=5)
    assert again.fingerprint == first.fingerprint
    assert isinstance(json.loads((cache / ".source-hashes.json").read_text()), dict)


def test_source_hash_entry_with_a_wrong_hash_type_is_rehashed(tmp_path):
    folder = write_amazon_2014(tmp_path / "amazon")
    cache = tmp_path / "cache"
    first = prepare_dataset(f"amazon:{folder}", cache_dir=cache, negatives=5)
    table = json.loads((cache / ".source-hashes.json").read_text())
    for entry in table.values():
        entry["sha256"] = ["not", "a", "hash"]
    (cache / ".source-hashes.json").write_text(json.dumps(table))
    assert prepare_dataset(f"amazon:{folder}", cache_dir=cache, negatives=5).fingerprint == first.fingerprint


@pytest.mark.parametrize("edit", [
    lambda m: [m], lambda m: {**m, "files": ["items.parquet"]}, lambda m: {k: v for k, v in m.items() if k != "stats"},
    lambda m: {**m, "settings": []}, lambda m: {**m, "files": {"../../outside": "0" * 64}}, lambda m: DEEP,
])
def test_prepared_manifest_of_the_wrong_shape_is_prepared_again(tmp_path, edit):
    folder = write_amazon_2014(tmp_path / "amazon")
    cache = tmp_path / "cache"
    first = prepare_dataset(f"amazon:{folder}", cache_dir=cache, negatives=5)
    (entry,) = [p for p in cache.iterdir() if not p.name.startswith(".")]
    manifest = json.loads((entry / "manifest.json").read_text())
    edited = edit(manifest)
    (entry / "manifest.json").write_text(edited if isinstance(edited, str) else json.dumps(edited))
    again = prepare_dataset(f"amazon:{folder}", cache_dir=cache, negatives=5)
    assert again.stats == first.stats
    pd.testing.assert_frame_equal(again.ratings, first.ratings)


# ---- accepted silently before --------------------------------------------------------------------


def _hf(monkeypatch, frame: pd.DataFrame):
    from llmrec.data import hf

    monkeypatch.setattr(hf, "fetch_frame", lambda name: frame.copy())


def _hf_frame(**columns) -> pd.DataFrame:
    n = 12
    base = {"user_id": [f"u{k % 3}" for k in range(n)], "item_id": [f"i{k}" for k in range(n)],
            "rating": [1 + k % 5 for k in range(n)], "date": [f"2020-01-{k + 1:02d}" for k in range(n)]}
    return pd.DataFrame({**base, **columns})


def test_hf_one_unparseable_date_is_an_error_not_all_zero(monkeypatch):
    dates = [f"2020-01-{k + 1:02d}" for k in range(12)]
    _hf(monkeypatch, _hf_frame(date=dates))
    ts = load_dataset("hf:some/set").interactions["timestamp"]
    assert ts.iloc[0] == 1577836800 and ts.is_monotonic_increasing
    for bad in ("yesterday", None):
        _hf(monkeypatch, _hf_frame(date=dates[:5] + [bad] + dates[6:]))
        with pytest.raises(LLMRecError, match=r"^hf:some/set: row 6: expected a date or Unix time for 'date', got"):
            load_dataset("hf:some/set")


@pytest.mark.parametrize("bad, message", [("five", r"row 3: expected a number for 'rating', got 'five'"),
                                          (float("inf"), r"row 3: expected a finite number for 'rating'")])
def test_hf_text_or_infinite_rating_is_an_error(monkeypatch, bad, message):
    ratings = [1 + k % 5 for k in range(12)]
    _hf(monkeypatch, _hf_frame(rating=ratings[:2] + [bad] + ratings[3:]))
    with pytest.raises(LLMRecError, match=rf"^hf:some/set: {message}"):
        load_dataset("hf:some/set")


def test_hf_rating_outside_scale_is_unrated_and_counted(monkeypatch, tmp_path):
    ratings = [1 + k % 5 for k in range(12)]
    _hf(monkeypatch, _hf_frame(rating=[0, 7] + ratings[2:], date=list(range(1000, 1012))))
    prepared = prepare_dataset("hf:some/set", cache_dir=tmp_path, negatives=2)
    assert prepared.stats["ratings_outside_scale"] == 2 and len(prepared.ratings) == 10


def test_hf_bom_in_a_column_name(monkeypatch):
    frame = _hf_frame().rename(columns={"user_id": "\ufeffuser_id"})
    _hf(monkeypatch, frame)
    assert len(load_dataset("hf:some/set").interactions) == 12


def test_atomic_short_row_is_refused(tmp_path):
    lines = atomic_rows()
    lines[4] = "\t".join(lines[4].split("\t")[:2])
    folder = write_atomic(tmp_path / "at", lines)
    fails(tmp_path, f"atomic:{folder}", folder / "toy.inter", r"toy.inter:5: expected 4 tab-separated fields, got 2")


def test_atomic_empty_timestamp_is_refused(tmp_path):
    lines = atomic_rows()
    lines[4] = "\t".join(lines[4].split("\t")[:3] + [""])
    folder = write_atomic(tmp_path / "at", lines)
    fails(tmp_path, f"atomic:{folder}", folder / "toy.inter", r"toy.inter:5: expected a value for 'timestamp'")


def test_p5_user_on_two_lines(tmp_path):
    folder = write_p5(tmp_path / "p5")
    path = folder / "sequential_data.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines + [lines[1].split()[0] + " 1 2"]) + "\n")
    fails(tmp_path, f"p5:{folder}", path, rf"sequential_data.txt:{len(lines) + 1}: user '2' already has a line \(line 2\)",
          negatives=4)


def test_p5_unknown_split_key(tmp_path):
    folder = write_p5(tmp_path / "p5")
    splits = pickle.loads((folder / "review_splits.pkl").read_bytes())
    splits["extra"] = splits["test"][:1]
    (folder / "review_splits.pkl").write_bytes(pickle.dumps(splits))
    fails(tmp_path, f"p5:{folder}", folder / "review_splits.pkl", r"split 'extra' is not one of train, val, test",
          negatives=4)


def test_amazon_review_text_and_summary_are_unescaped(tmp_path):
    name, path = amazon_line(tmp_path, 1, reviewText="Tom &amp; Jerry said &quot;hi&quot; &lt;3",
                             summary="5 &gt; 4 &#39;ok&#39;")
    first = load_dataset(name).reviews.iloc[0]
    assert first["text"] == 'Tom & Jerry said "hi" <3' and first["summary"] == "5 > 4 'ok'"


def test_utf8_bom_is_accepted_everywhere(tmp_path):
    amazon = write_amazon_2014(tmp_path / "amazon")
    reviews = amazon / "reviews_Beauty_5.json"
    reviews.write_bytes(b"\xef\xbb\xbf" + reviews.read_bytes())
    meta = amazon / "meta_Beauty.json.gz"
    meta.write_bytes(gzip.compress(b"\xef\xbb\xbf" + gzip.decompress(meta.read_bytes())))
    ds = load_dataset(f"amazon:{amazon}")
    assert len(ds.reviews) == len(review_rows()) and ds.items["title"].str.startswith("Product").all()

    atomic = write_atomic(tmp_path / "at", atomic_rows(), ["item_id:token\ttitle:token_seq", "m1\tFirst"])
    for path in (atomic / "toy.inter", atomic / "toy.item"):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    ds = load_dataset(f"atomic:{atomic}")
    assert ds.interactions["user_id"].iloc[0] == "u0" and ds.items.set_index("item_id").loc["m1", "title"] == "First"

    p5 = write_p5(tmp_path / "p5")
    for name in ("sequential_data.txt", "datamaps.json", "negative_samples.txt"):
        (p5 / name).write_bytes(b"\xef\xbb\xbf" + (p5 / name).read_bytes())
    assert len(load_dataset(f"p5:{p5}").interactions) == len(review_rows())


def test_p5_folder_without_reviews_serves_the_ranking_tasks(tmp_path):
    folder = write_p5(tmp_path / "p5")
    for name in ("review_splits.pkl", "exp_splits.pkl"):
        (folder / name).unlink()
    prepared = prepare_dataset(f"p5:{folder}", cache_dir=tmp_path / "cache", negatives=4)
    assert len(prepared.interactions) == len(review_rows()) and prepared.reviews.empty and prepared.ratings.empty
    assert sorted(prepared.stats["absent_files"]) == ["exp_splits.pkl", "review_splits.pkl"]
    assert prepared.stats["negatives_from"] == "source"


def test_p5_folder_without_reviews_names_the_file_for_review_tasks(tmp_path, capsys, monkeypatch):
    folder = write_p5(tmp_path / "p5")
    (folder / "review_splits.pkl").unlink()
    monkeypatch.setenv("LLMREC_DATA_DIR", str(tmp_path / "data"))
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", "mf", "--task", "rating",
                        "--dataset", f"p5:{folder}", "--candidates", "5", "--output", tmp_path / "runs")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "review_splits.pkl" in err and err.startswith("error: "), err


def test_p5_folder_without_negatives_samples_them(tmp_path):
    folder = write_p5(tmp_path / "p5")
    (folder / "negative_samples.txt").unlink()
    prepared = prepare_dataset(f"p5:{folder}", cache_dir=tmp_path / "cache", negatives=4)
    assert prepared.stats["negatives_from"] == "sampled" and prepared.negatives.shape == (13, 4)
    assert prepared.stats["negatives_seen_by_user"] == 0 and (prepared.negatives[1:] > 0).all()


# ---- messages ------------------------------------------------------------------------------------


def test_comma_separated_atomic_file_says_the_separator_is_wrong(tmp_path):
    folder = write_atomic(tmp_path / "at", [line.replace("\t", ",") for line in atomic_rows()])
    fails(tmp_path, f"atomic:{folder}", folder / "toy.inter", r"toy.inter:1: fields are separated by ',', expected tabs")


def test_too_many_candidates_speaks_of_candidates(tmp_path, capsys, monkeypatch):
    folder = write_amazon_2014(tmp_path / "amazon")  # 15 items, 8 seen per user
    monkeypatch.setenv("LLMREC_DATA_DIR", str(tmp_path / "data"))
    code, _, err = run_cli(capsys, monkeypatch, "data", "prepare", f"amazon:{folder}", "--candidates", "10")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "--candidates 10" in err and "--candidates 8 or fewer" in err, err
    p5 = write_p5(tmp_path / "p5", negatives=4)
    code, _, err = run_cli(capsys, monkeypatch, "data", "prepare", f"p5:{p5}", "--candidates", "10")
    assert code == 2 and "--candidates 5 or fewer" in err, err
    assert not (tmp_path / "data" / "prepared").exists() or not [
        p for p in (tmp_path / "data" / "prepared").iterdir() if not p.name.startswith(".")]


def test_cli_bad_data_file_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    name, path = amazon_line(tmp_path, 3, unixReviewTime=float("inf"))
    monkeypatch.setenv("LLMREC_DATA_DIR", str(tmp_path / "data"))
    code, _, err = run_cli(capsys, monkeypatch, "data", "prepare", name, "--candidates", "3")
    assert code == 2 and err.strip().splitlines() == [err.strip()] and err.startswith(f"error: {path}:3: "), err


def test_p5_user_on_two_negative_lines(tmp_path):
    folder = write_p5(tmp_path / "p5")
    path = folder / "negative_samples.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines + [lines[0]]) + "\n")
    fails(tmp_path, f"p5:{folder}", path, rf"negative_samples.txt:{len(lines) + 1}: user '1' already has a line",
          negatives=4)


def test_atomic_item_year_not_finite_is_no_year(tmp_path):
    items = ["item_id:token\ttitle:token_seq\tyear:token", "m1\tFirst\tinf", "m2\tSecond\t1e400", "m3\tThird\t1999"]
    folder = write_atomic(tmp_path / "at", atomic_rows(), items)
    titles = load_dataset(f"atomic:{folder}").items.set_index("item_id")["title"]
    assert titles[["m1", "m2", "m3"]].tolist() == ["First", "Second", "Third (1999)"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_cli_fifo_dataset_exits_2_without_blocking(tmp_path):
    import subprocess

    fifo = tmp_path / "reviews.json"
    os.mkfifo(fifo)
    env = {**os.environ, "LLMREC_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run([sys.executable, "-m", "llmrec", "data", "prepare", f"amazon:{fifo}"], capture_output=True,
                          text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr == f"error: {fifo}: not a regular file or folder (expected an Amazon " \
                                                    f"review file or a folder with one)\n", done.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("candidates", [0, -5, "ten"])
def test_candidates_below_one_speaks_of_candidates(tmp_path, candidates):
    from llmrec.data import prepare_for_run

    with pytest.raises(LLMRecError, match=r"^--candidates: expected an integer >= 1"):
        prepare_for_run("movielens-100k", seed=1, candidates=candidates, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
