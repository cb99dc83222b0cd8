"""Do two commits prepare the same content? Prepares the same source files with both and compares the results.

    python scripts/same_prepared.py BEFORE AFTER                  # e.g. main HEAD
    python scripts/same_prepared.py BEFORE AFTER --reviews 20000  # a smaller generated dump

Each commit is checked out into a temporary worktree and run with this interpreter (its environment must have
llmrec's dependencies) and PYTHONPATH set to that tree. The sources are written once, from this checkout: the
Amazon 2014, 2018 and 2023 fixtures of tests/fixtures_data.py (gzip and plain, with and without metadata, plus
users and items the k-core drops), a generated 2018 dump (benchmarks/amazon_scale.py, --reviews reviews with
metadata) and movielens-100k. Each is prepared with the default settings (negatives: 4 for the fixtures, whose
catalogs are small) and with --kcore 0 and --kcore 3. Compared: every parquet frame (pandas `equals` after
reading, dtypes and index included), negatives.npy, the manifest's stats and rows, and every task's samples
(ids, users, items and references of all of them; the variables of a few hundred spread over the list). The
fingerprint and the cache format may differ and are shown, and so are stats only AFTER counts (a new count is
not a change of content; a stat both have must be equal). Exit 0 when everything matches, 1 otherwise; a line
per dataset and setting either way.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SETTINGS = {"default": 5, "kcore 0": 0, "kcore 3": 3}  # label -> kcore
FIXTURE_NEGATIVES = 4  # a fixture user has 7 never-seen items
VARIABLE_SAMPLES = 300  # per task, spread over the sample list

# Prepares every dataset and setting and describes the samples, inside the tree on PYTHONPATH.
CHILD = r"""
import hashlib, json, pickle, sys
from pathlib import Path

from llmrec.data import prepare_dataset
from llmrec.errors import LLMRecError
from llmrec.tasks import TASKS, SampleOptions, get_task

def plain(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "items"):
        return dict(value.items())
    return repr(value)

def canonical(value):
    return json.dumps(value, sort_keys=True, default=plain, ensure_ascii=False)

def describe(samples, spread):
    heads = hashlib.sha256()
    for s in samples:
        heads.update(canonical([s.task, s.sample_id, s.user, s.item, s.reference]).encode() + b"\n")
    step = max(1, len(samples) // spread)
    variables = [(s.sample_id, canonical(dict(s.variables.items()))) for s in samples[::step][:spread]]
    return {"count": len(samples), "heads": heads.hexdigest(), "variables": variables}

jobs, spread, out = json.loads(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
results = {}
for key, name, kcore, negatives, cache in jobs:
    try:
        prepared = prepare_dataset(name, kcore=kcore, negatives=negatives, cache_dir=Path(cache))
    except LLMRecError as e:
        results[key] = {"error": str(e)}
        continue
    tasks = {}
    for task in TASKS.names():
        try:
            tasks[task] = describe(get_task(task).build(prepared, SampleOptions()), spread)
        except LLMRecError as e:
            tasks[task] = {"error": str(e)}
    results[key] = {"tasks": tasks}
out.write_bytes(pickle.dumps(results))
"""


def _with(rows: list[dict]) -> list[dict]:
    """The fixture rows plus a user with 2 reviews (kept at --kcore 0 only), and a user with 5 reviews, one
    of an item nobody else reviewed: that item goes at --kcore 2 and up, and then its user at --kcore 5."""
    last = max(r["time"] for r in rows)
    extra = [{"user": "U90", "item": f"B00{i}", "time": last} for i in range(2)]
    extra += [{"user": "U91", "item": item, "time": last - n} for n, item in enumerate(["B000", "B001", "B002", "B003",
                                                                                          "B900"])]
    return rows + [{**r, "rating": 4.0, "summary": f"tie {r['user']}", "text": "same day"} for r in extra]


def _gzip(path: Path, target: Path) -> None:
    target.write_bytes(gzip.compress(path.read_bytes(), mtime=0))
    path.unlink()


def _gunzip(path: Path, target: Path) -> None:
    target.write_bytes(gzip.decompress(path.read_bytes()))
    path.unlink()


def write_sources(root: Path, reviews: int) -> list[tuple[str, str, int]]:
    """(label, dataset name, negatives) of every source, written under `root`."""
    sys.path[:0] = [str(REPO / "tests"), str(REPO / "benchmarks")]
    from amazon_scale import write_amazon_2018 as generate_2018
    from fixtures_data import review_rows, write_amazon_2014, write_amazon_2018, write_amazon_2023

    rows = _with(review_rows())
    a14 = write_amazon_2014(root / "a2014", rows)
    a14_gz = write_amazon_2014(root / "a2014-gz", rows, meta=False)
    _gzip(a14_gz / "reviews_Beauty_5.json", a14_gz / "reviews_Beauty_5.json.gz")
    a18 = write_amazon_2018(root / "Clothing_2018.json", rows)  # gzip bytes named .json
    (root / "a2018-plain").mkdir()
    _gunzip(write_amazon_2018(root / "a2018.json.gz", rows), root / "a2018-plain" / "Clothing.json")
    (root / "a2018-meta").mkdir()
    write_amazon_2018(root / "a2018-meta" / "Clothing.json.gz", rows)
    meta = [json.dumps({"category": ["Clothing, Shoes & Jewelry", "Women"], "title": f"Dress {item} &amp; belt",
                        "brand": "b", "price": "", "asin": item}) for item in sorted({r["item"] for r in rows})[1:]]
    (root / "a2018-meta" / "meta_Clothing.json").write_text("\n".join(meta) + "\n")  # one item without a line
    a23 = write_amazon_2023(root / "a2023", rows)
    a23_gz = write_amazon_2023(root / "a2023-gz", rows)
    (a23_gz / "meta_All_Beauty.jsonl.gz").unlink()
    _gzip(a23_gz / "All_Beauty.jsonl", a23_gz / "All_Beauty.jsonl.gz")
    generated = generate_2018(root / "generated", reviews, seed=0)
    n = FIXTURE_NEGATIVES
    return [
        ("amazon 2014 plain + meta", f"amazon:{a14}", n),
        ("amazon 2014 gzip", f"amazon:{a14_gz}", n),
        ("amazon 2018 gzip as .json", f"amazon:{a18}", n),
        ("amazon 2018 plain", f"amazon:{root / 'a2018-plain'}", n),
        ("amazon 2018 gzip + plain meta", f"amazon:{root / 'a2018-meta'}", n),
        ("amazon 2023 plain + meta", f"amazon:{a23}", n),
        ("amazon 2023 gzip", f"amazon:{a23_gz}", n),
        (f"generated 2018, {reviews:,} reviews + meta", f"amazon:{generated}", 99),
        ("movielens-100k", "movielens-100k", 99),
    ]


def prepare_all(tree: Path, sources: list[tuple[str, str, int]], data: Path) -> dict:
    """{(label, setting): {"folder": prepared folder, "tasks": ...} or {"error": ...}} for one commit."""
    jobs = [[f"{n}/{setting}", name, kcore, negatives, str(data / str(n) / setting.replace(" ", "-"))]
            for n, (label, name, negatives) in enumerate(sources) for setting, kcore in SETTINGS.items()]
    out = data / "samples.pkl"
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(jobs), str(VARIABLE_SAMPLES), str(out)],
                          cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{tree}: preparing failed:\n{done.stderr[-3000:]}")
    results = pickle.loads(out.read_bytes())
    for key, _, _, _, cache in jobs:
        folders = sorted(p.parent for p in Path(cache).glob("*/manifest.json"))
        results[key]["folder"] = folders[0] if len(folders) == 1 else None
    return results


def _read_manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def compare_folders(a: Path, b: Path) -> list[str]:
    """What differs between two prepared folders' content (frames, negatives, stats, rows)."""
    differences = []
    tables = sorted({p.name for p in [*a.glob("*.parquet"), *b.glob("*.parquet")]})
    for name in tables:
        if not (a / name).is_file() or not (b / name).is_file():
            differences.append(f"{name} only in {'before' if (a / name).is_file() else 'after'}")
            continue
        x, y = pd.read_parquet(a / name), pd.read_parquet(b / name)
        if not (x.equals(y) and x.dtypes.equals(y.dtypes) and x.index.equals(y.index)
                and x.index.dtype == y.index.dtype and list(x.columns) == list(y.columns)):
            differences.append(name)
    x, y = np.load(a / "negatives.npy"), np.load(b / "negatives.npy")
    if x.dtype != y.dtype or not np.array_equal(x, y):
        differences.append("negatives.npy")
    ma, mb = _read_manifest(a), _read_manifest(b)
    if ma.get("rows") != mb.get("rows"):
        differences.append("manifest rows")
    before, after = ma.get("stats", {}), mb.get("stats", {})
    differences += [f"stats {k}" for k in sorted(before) if before[k] != after.get(k, object())]
    return differences


def added_stats(a: Path, b: Path) -> list[str]:
    """Stats the later commit counts and the earlier did not: listed, not a difference of content."""
    before, after = _read_manifest(a).get("stats", {}), _read_manifest(b).get("stats", {})
    return sorted(set(after) - set(before))


def compare_samples(a: dict, b: dict) -> list[str]:
    differences = []
    for task in sorted(set(a) | set(b)):
        x, y = a.get(task), b.get(task)
        if x == y:
            continue
        if x is None or y is None or "error" in x or "error" in y:
            before, after = ((side or {}).get("error", "built") for side in (x, y))
            differences.append(f"{task} samples ({before} / {after})")
        elif x["count"] != y["count"]:
            differences.append(f"{task} samples ({x['count']} / {y['count']})")
        else:
            first = next((ia for (ia, va), (ib, vb) in zip(x["variables"], y["variables"]) if (ia, va) != (ib, vb)),
                         None)
            differences.append(f"{task} samples" + (f" (first at {first})" if first else " (ids or references)"))
    return differences


def verdict(a: dict, b: dict) -> tuple[str, bool]:
    if "error" in a or "error" in b:
        if a.get("error") == b.get("error"):
            return f"identical (both refuse: {a['error'][:100]})", True
        return f"DIFFERENT ({a.get('error', 'prepared')[:60]} / {b.get('error', 'prepared')[:60]})", False
    if a["folder"] is None or b["folder"] is None:
        return "DIFFERENT (no single prepared folder to compare)", False
    differences = compare_folders(a["folder"], b["folder"]) + compare_samples(a["tasks"], b["tasks"])
    ma, mb = _read_manifest(a["folder"]), _read_manifest(b["folder"])
    notes = [f"{k} {ma.get(k, '-')!s:.12} -> {mb.get(k, '-')!s:.12}" for k in ("format", "fingerprint")
             if ma.get(k) != mb.get(k)]
    added = added_stats(a["folder"], b["folder"])
    notes += [f"stats added: {', '.join(added)}"] if added else []
    text = ("identical" if not differences else "DIFFERENT " + ", ".join(differences))
    return text + (f"  [{'; '.join(notes)}]" if notes else ""), not differences


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--reviews", type=int, default=100_000, help="reviews in the generated 2018 dump")
    args = parser.parse_args()
    if args.reviews < 1:
        parser.error(f"--reviews: expected an integer >= 1, got {args.reviews}")
    with tempfile.TemporaryDirectory(prefix="same-prepared-") as tmp:
        root = Path(tmp)
        (root / "sources").mkdir()
        sources = write_sources(root / "sources", args.reviews)
        results = {}
        for side, ref in (("before", args.before), ("after", args.after)):
            tree = root / f"tree-{side}"
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(tree), ref], check=True)
            try:
                results[side] = prepare_all(tree, sources, root / f"data-{side}")
            finally:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=True)
        same = True
        for n, (label, _, _) in enumerate(sources):
            for setting in SETTINGS:
                key = f"{n}/{setting}"
                text, ok = verdict(results["before"][key], results["after"][key])
                print(f"{label:42} {setting:8} {text}")
                same &= ok
        print("same prepared content" if same else "prepared content differs")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
