"""Turn a loaded `Dataset` into a deterministic `Prepared` split, and cache it on disk.

Everything random is drawn from numpy generators seeded by `seed`, so one seed gives
byte-identical files. Rules (also in data/README.md):
- ids: users and items are remapped to 1..n by a seeded permutation of their sorted source ids;
- order: stable sort by (user, timestamp); equal timestamps keep the source file order;
- interactions: leave-one-out per user (last = test, second last = valid), users with < 3 kept as train;
- ratings/reviews: random 80/10/10, then valid/test rows whose user or item has no train row move to train;
  a split shipped by the source (P5) is kept as is;
- negatives: per user, distinct items the user never interacted with (nor reviewed), uniform.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from llmrec.data.model import Dataset, Prepared
from llmrec.errors import LLMRecError
from llmrec.hashing import sha256_file

FORMAT_VERSION = "llmrec-prepared/1"
HASH_TABLE = ".source-hashes.json"
FRAMES = ("items", "interactions", "ratings", "reviews")
SPLIT_NAMES = {"train": "train", "val": "valid", "valid": "valid", "validation": "valid", "test": "test"}
# Independent random streams derived from the seed (the id permutation uses the plain seed).
SPLIT_STREAM, NEGATIVE_STREAM = 1, 2
INTERACTION_OUT = ["user", "item", "rating", "timestamp", "split"]
REVIEW_OUT = ["user", "item", "rating", "timestamp", "text", "summary", "explanation", "split"]


# ---- cache location, fingerprint ---------------------------------------------------------------


def default_cache_dir() -> Path:
    """$LLMREC_DATA_DIR/prepared if set, else data/prepared under the current directory."""
    root = os.environ.get("LLMREC_DATA_DIR")
    return Path(root) / "prepared" if root else Path("data/prepared")


def safe_name(name: str) -> str:
    """A folder-name form of a dataset name: 'amazon:/x/Beauty.json.gz' -> 'amazon-Beauty.json.gz'."""
    kind, sep, arg = name.partition(":")
    base = f"{kind}-{Path(arg.rstrip('/')).name or arg}" if sep else name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.")[:64] or "dataset"


class SourceHashes:
    """sha256 of source files, remembered by (path, size, mtime) so warm calls skip re-hashing.
    The table is written only by `save()`, after a successful preparation."""

    def __init__(self, cache_dir: Path):
        self.path = cache_dir / HASH_TABLE
        self.changed = False
        try:
            self.table = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.table = {}

    def sha256(self, path: Path) -> str:
        stat = path.stat()
        key = str(path.resolve())
        entry = self.table.get(key)
        if isinstance(entry, dict) and entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns:
            return entry["sha256"]
        sha = sha256_file(path)
        self.table[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha}
        self.changed = True
        return sha

    def save(self) -> None:
        if not self.changed:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.table, indent=1, sort_keys=True))
        os.replace(tmp, self.path)
        self.changed = False


def fingerprint(name: str, source_hashes: list[str], settings: dict) -> str:
    payload = {"format": FORMAT_VERSION, "name": name, "sources": source_hashes, "settings": settings}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# ---- the preparation itself ---------------------------------------------------------------------


def unique_sorted(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting (numpy's hash-based unique is slow on large int64 keys)."""
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if values.size else values


class IdMap:
    """Source ids (strings) -> 1..n by a seeded permutation of the sorted unique ids."""

    def __init__(self, *columns: pd.Series, rng: np.random.Generator):
        # factorize first: sorting a few thousand uniques is far cheaper than sorting every row.
        self.factorized = [pd.factorize(c) for c in columns]
        uniques = set()
        for _, u in self.factorized:
            uniques.update(map(str, u))
        self.source = pd.Index(sorted(uniques), dtype=object)
        self.new = rng.permutation(len(self.source)).astype(np.int64) + 1

    def __len__(self) -> int:
        return len(self.source)

    def column(self, k: int) -> np.ndarray:
        """New ids of the k-th column given to the constructor."""
        codes, uniques = self.factorized[k]
        return self.new[self.source.get_indexer(uniques.astype(str))][codes]

    def lookup(self, source_ids) -> np.ndarray:
        """New ids, -1 where unknown."""
        at = self.source.get_indexer(pd.Index(source_ids, dtype=object))
        return np.where(at >= 0, self.new[at], -1)

    def source_of(self, new_id: int) -> str:
        return str(self.source[int(np.nonzero(self.new == new_id)[0][0])])


def leave_one_out(frame: pd.DataFrame) -> tuple[pd.Series, int]:
    """Split labels for a frame sorted by (user, time), and the number of users too short (< 3)."""
    by_user = frame.groupby("user", sort=False)
    from_end = by_user.cumcount(ascending=False).to_numpy()
    size = by_user["user"].transform("size").to_numpy()
    code = np.where(from_end == 0, 2, np.where(from_end == 1, 1, 0))
    code[size < 3] = 0
    return split_labels(code), int(frame.loc[size < 3, "user"].nunique())


def random_split(frame: pd.DataFrame, seed: int) -> tuple[pd.Series, int]:
    """80/10/10 at random, then valid/test rows with an unseen-in-train user or item move to train.
    One pass suffices: moving rows only adds users and items to train. Users with a single row
    are exempt from the user rule (they can never be in train and test at once; clothing reviews
    have only such users and would otherwise lose every valid/test row)."""
    n = len(frame)
    order = np.random.default_rng([seed, SPLIT_STREAM]).permutation(n)
    n_train, n_valid = round(0.8 * n), round(0.1 * n)
    code = np.full(n, 2, dtype=np.int8)  # 0 train, 1 valid, 2 test
    code[order[:n_train]] = 0
    code[order[n_train : n_train + n_valid]] = 1
    train = code == 0
    user, item = frame["user"].to_numpy(), frame["item"].to_numpy()
    single = np.bincount(user)[user] == 1
    in_train_users = np.bincount(user[train], minlength=user.max() + 1)[user] > 0
    in_train_items = np.bincount(item[train], minlength=item.max() + 1)[item] > 0
    cold = ~train & ((~single & ~in_train_users) | ~in_train_items)
    code[cold] = 0
    return split_labels(code), int(cold.sum())


def split_labels(code: np.ndarray) -> pd.Series:
    return pd.Series(np.array(["train", "valid", "test"], dtype=object)[code], dtype=str)


def _in_sorted(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    if sorted_keys.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return sorted_keys[at] == keys


def sample_negatives(seen: np.ndarray, n_users: int, n_items: int, count: int, seed: int) -> np.ndarray:
    """Row u: `count` distinct items in 1..n_items that are not in user u's seen keys
    (key = user * (n_items + 1) + item). Vectorised rejection sampling: each round draws, for every
    unfinished user, about enough uniform items to finish, rejects seen/duplicate ones and keeps the
    first accepted in draw order, which is a uniform sample without replacement."""
    stride = n_items + 1
    out = np.zeros((n_users + 1, count), dtype=np.int64)
    if count == 0 or n_users == 0:
        return out
    seen = unique_sorted(seen)
    free = n_items - np.bincount(seen // stride, minlength=n_users + 1)
    rng = np.random.default_rng([seed, NEGATIVE_STREAM])
    filled = np.zeros(n_users + 1, dtype=np.int64)
    chosen = np.empty(0, dtype=np.int64)
    pending = np.arange(1, n_users + 1)
    while pending.size:
        need = count - filled[pending]
        draws = np.ceil(need * n_items / free[pending] * 1.2).astype(np.int64) + 8
        users = np.repeat(pending, draws)
        items = rng.integers(1, n_items + 1, size=users.size)
        keys = users * stride + items
        accepted = ~_in_sorted(seen, keys) & ~_in_sorted(chosen, keys)
        first = np.zeros(keys.size, dtype=bool)
        first[np.unique(keys, return_index=True)[1]] = True
        accepted &= first
        # Rank of each accepted draw within its user's block of draws.
        running = np.cumsum(accepted)
        block_start = np.cumsum(draws) - draws
        before = np.where(block_start > 0, running[np.maximum(block_start - 1, 0)], 0)
        rank = running - np.repeat(before, draws) - 1
        take = accepted & (rank < np.repeat(need, draws))
        rows = users[take]
        out[rows, filled[rows] + rank[take]] = items[take]
        filled += np.bincount(rows, minlength=n_users + 1)
        chosen = np.sort(np.concatenate([chosen, keys[take]]))
        pending = pending[filled[pending] < count]
    return out


def _shipped_negatives(dataset: Dataset, users: IdMap, items: IdMap, count: int) -> np.ndarray:
    """The source's own negatives (P5), first `count` per user, in new ids."""
    shipped = dataset.negatives or {}
    width = min(len(v) for v in shipped.values())
    if count > width:
        raise LLMRecError(f"{dataset.name}: the source ships {width} negatives per user; asked for {count}")
    missing = [u for u in users.source if u not in shipped]
    if missing:
        raise LLMRecError(f"{dataset.name}: the shipped negatives have no row for user {missing[0]!r}")
    flat = [i for u in users.source for i in shipped[u][:count]]
    new_items = items.lookup(flat)
    if (new_items < 0).any():
        raise LLMRecError(f"{dataset.name}: shipped negative item {flat[int(np.argmax(new_items < 0))]!r} is not in the dataset")
    out = np.zeros((len(users) + 1, count), dtype=np.int64)
    out[users.new] = new_items.reshape(len(users), count)
    return out


def _empty_reviews() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user": pd.Series(dtype=np.int64),
            "item": pd.Series(dtype=np.int64),
            "rating": pd.Series(dtype=np.float64),
            "timestamp": pd.Series(dtype=np.int64),
            **{c: pd.Series(dtype=str) for c in ("text", "summary", "explanation", "split")},
        }
    )


def _split_counts(frame: pd.DataFrame) -> dict[str, int]:
    counts = frame["split"].value_counts()
    return {s: int(counts.get(s, 0)) for s in ("train", "valid", "test")}


def _source_split(values: pd.Series, dataset: Dataset) -> pd.Series:
    split = values.astype(str).str.strip().str.lower().map(SPLIT_NAMES)
    if split.isna().any():
        bad = values[split.isna().to_numpy()].iloc[0]
        raise LLMRecError(f"{dataset.name}: review split {bad!r} is not one of train, val(id), test")
    return split.astype(str).to_numpy()


def _by_time(frame: pd.DataFrame) -> pd.DataFrame:
    # np.lexsort is stable: rows with equal (user, timestamp) keep their source file order.
    order = np.lexsort((frame["timestamp"].to_numpy(), frame["user"].to_numpy()))
    return frame.iloc[order].reset_index(drop=True)


def _seen_keys(frames: list[pd.DataFrame], n_items: int) -> np.ndarray:
    """user * (n_items + 1) + item for every pair a user touched, sorted, unique."""
    keys = [f["user"].to_numpy(np.int64) * (n_items + 1) + f["item"].to_numpy(np.int64) for f in frames]
    return unique_sorted(np.concatenate(keys))


def prepare(dataset: Dataset, *, seed: int = 2023, negatives: int = 99, fingerprint: str = "") -> Prepared:
    """The deterministic split of a loaded dataset (no I/O)."""
    inter, reviews = dataset.interactions, dataset.reviews
    if inter is None or inter.empty:
        raise LLMRecError(f"{dataset.name}: no interactions to prepare")
    has_reviews = reviews is not None and not reviews.empty
    review_cols = [reviews] if has_reviews else []

    # Seeded permutation of the sorted ids: new ids carry no order information.
    rng = np.random.default_rng(seed)
    users = IdMap(inter["user_id"], *(r["user_id"] for r in review_cols), rng=rng)
    items = IdMap(inter["item_id"], *(r["item_id"] for r in review_cols), rng=rng)

    catalog = dataset.items.drop_duplicates("item_id").set_index("item_id")
    known = catalog.reindex(items.source)
    items_out = pd.DataFrame(
        {
            "title": known["title"].fillna("").astype(str).to_numpy(),
            "category": known["category"].fillna("").astype(str).to_numpy(),
            "source_id": items.source.astype(str),
        },
        index=pd.Index(items.new, name="item"),
    ).sort_index()

    frame = pd.DataFrame(
        {
            "user": users.column(0),
            "item": items.column(0),
            "rating": inter["rating"].to_numpy(np.float64),
            "timestamp": inter["timestamp"].to_numpy(np.int64),
        }
    )
    frame = _by_time(frame)
    frame["split"], too_short = leave_one_out(frame)

    has_source_split, moved_reviews = False, 0
    if has_reviews:
        rev = pd.DataFrame(
            {
                "user": users.column(1),
                "item": items.column(1),
                "rating": reviews["rating"].to_numpy(np.float64),
                "timestamp": reviews["timestamp"].to_numpy(np.int64),
                "text": reviews["text"].astype(str).to_numpy(),
                "summary": reviews["summary"].astype(str).to_numpy(),
                "explanation": reviews["explanation"].astype(str).to_numpy(),
            }
        )
        has_source_split = "split" in reviews.columns
        if has_source_split:
            rev["split"] = _source_split(reviews["split"], dataset)
        rev = _by_time(rev)
        if not has_source_split:
            rev["split"], moved_reviews = random_split(rev, seed)
    else:
        rev = _empty_reviews()

    # Ratings: rated interactions; sources without ratings on interactions (P5) use the reviews'.
    # Same rows in the same order as the reviews (Amazon, clothing) get the same random split.
    rated, ratings_source = frame[frame["rating"].notna()], "interactions"
    if rated.empty and not rev.empty:
        rated, ratings_source = rev[rev["rating"].notna()], "reviews"
    ratings = rated[["user", "item", "rating", "timestamp"]].reset_index(drop=True)
    moved_ratings = 0
    if ratings_source == "reviews" and has_source_split:
        ratings["split"] = rated["split"].to_numpy()
    elif not ratings.empty:
        ratings["split"], moved_ratings = random_split(ratings, seed)
    else:
        ratings["split"] = pd.Series(dtype=str)

    n_users, n_items = len(users), len(items)
    seen = _seen_keys([frame, rev], n_items)
    if dataset.negatives:
        neg = _shipped_negatives(dataset, users, items, negatives)
        negatives_source = "source"
    else:
        free = n_items - np.bincount(seen // (n_items + 1), minlength=n_users + 1)[1:]
        if negatives > 0 and (free < negatives).any():
            short = int(np.argmin(free))
            raise LLMRecError(
                f"{dataset.name}: user {users.source_of(short + 1)!r} has only {int(free[short])} never-seen items, "
                f"fewer than the {negatives} negatives asked for (use fewer negatives)"
            )
        neg = sample_negatives(seen, n_users, n_items, negatives, seed)
        negatives_source = "sampled"
    neg_keys = (np.arange(n_users + 1)[:, None] * (n_items + 1) + neg).ravel()

    stats = {
        "users": n_users,
        "items": n_items,
        "interactions": len(frame),
        "ratings": len(ratings),
        "reviews": len(rev),
        "interactions_split": _split_counts(frame),
        "ratings_split": _split_counts(ratings),
        "reviews_split": _split_counts(rev),
        "users_too_short_for_sequence": too_short,
        "moved_to_train_ratings": moved_ratings,
        "moved_to_train_reviews": moved_reviews,
        "ratings_from": ratings_source,
        "reviews_split_from": "source" if has_source_split else "random",
        "negatives_per_user": int(neg.shape[1]),
        "negatives_from": negatives_source,
        # Shipped negatives are used as given; say if any of them was in fact interacted with.
        "negatives_seen_by_user": int(_in_sorted(seen, neg_keys[neg.ravel() > 0]).sum()),
        "catalog_items_without_interactions": int((~catalog.index.isin(items.source)).sum()),
        "items_without_title": int((items_out["title"] == "").sum()),
    }
    return Prepared(
        name=dataset.name,
        fingerprint=fingerprint,
        seed=seed,
        items=items_out,
        interactions=frame[INTERACTION_OUT],
        ratings=ratings[INTERACTION_OUT],
        reviews=rev[REVIEW_OUT],
        negatives=neg,
        stats=stats,
    )


# ---- cache on disk ------------------------------------------------------------------------------


def _text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """One string dtype for text columns so cold and warm results and files agree."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].astype(str)
    return frame


def write_prepared(prepared: Prepared, folder: Path, manifest: dict) -> None:
    """Write into a temporary sibling folder, then rename: readers never see a half-written cache."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        _text_columns(prepared.items).to_parquet(tmp / "items.parquet", index=True)
        for frame_name in FRAMES[1:]:
            _text_columns(getattr(prepared, frame_name)).to_parquet(tmp / f"{frame_name}.parquet", index=False)
        np.save(tmp / "negatives.npy", prepared.negatives, allow_pickle=False)
        written = sorted(p.name for p in tmp.iterdir())
        manifest = {**manifest, "files": {n: sha256_file(tmp / n) for n in written}}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if folder.exists():  # refresh, or a damaged earlier copy
            stale = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
            os.replace(folder, stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(tmp, folder)
        except OSError:
            if not (folder / "manifest.json").is_file():  # not a concurrent writer's finished copy
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_prepared(folder: Path, expected_fingerprint: str, verify: bool = True) -> Prepared | None:
    """The cached preparation, or None when absent, from another fingerprint, or damaged."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest.get("format") != FORMAT_VERSION or manifest.get("fingerprint") != expected_fingerprint:
            return None
        files = manifest["files"]
        if verify and any(sha256_file(folder / n) != sha for n, sha in files.items()):
            return None
        frames = {n: pd.read_parquet(folder / f"{n}.parquet") for n in FRAMES}
        negatives = np.load(folder / "negatives.npy", allow_pickle=False)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Prepared(
        name=manifest["name"],
        fingerprint=manifest["fingerprint"],
        seed=manifest["settings"]["seed"],
        negatives=negatives,
        stats=manifest["stats"],
        **frames,
    )


def _check_settings(seed, negatives, kcore) -> None:
    for option, value, low in (("seed", seed, 0), ("negatives", negatives, 0), ("kcore", kcore, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise LLMRecError(f"--{option}: expected an integer >= {low}, got {value!r}")


def prepare_cached(
    name: str,
    *,
    seed: int = 2023,
    negatives: int = 99,
    kcore: int = 5,
    cache_dir: Path | None = None,
    refresh: bool = False,
) -> Prepared:
    from llmrec.data import load_dataset, source_files

    _check_settings(seed, negatives, kcore)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    files = source_files(name)  # validates the name and paths before anything is written
    hashes = SourceHashes(cache_dir)
    sources = [{"path": str(p.resolve()), "sha256": hashes.sha256(p)} for p in files]
    settings = {"seed": int(seed), "negatives": int(negatives), "kcore": int(kcore)}
    fp = fingerprint(name, [s["sha256"] for s in sources], settings)
    folder = cache_dir / f"{safe_name(name)}-{fp[:12]}"

    if not refresh:
        cached = read_prepared(folder, fp)
        if cached is not None:
            hashes.save()
            return cached
    prepared = prepare(load_dataset(name, kcore=kcore), seed=seed, negatives=negatives, fingerprint=fp)
    manifest = {
        "format": FORMAT_VERSION,
        "name": name,
        "fingerprint": fp,
        "settings": settings,
        "sources": sources,
        "stats": prepared.stats,
        "rows": {n: len(getattr(prepared, n)) for n in FRAMES} | {"negatives": int(prepared.negatives.shape[0])},
    }
    write_prepared(prepared, folder, manifest)
    hashes.save()
    # Hand back what a warm call would read, so cold and warm results are the same objects.
    result = read_prepared(folder, fp, verify=False)
    if result is None:
        raise LLMRecError(f"{folder}: the prepared cache could not be read back after writing")
    return result
