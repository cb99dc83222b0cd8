"""Turn a loaded `Dataset` into a deterministic `Prepared` split, and cache it on disk.

Everything random is drawn from numpy generators seeded by `seed`, so one seed gives
byte-identical files. Rules (also in data/README.md):
- ids: users and items are remapped to 1..n by a seeded permutation of their sorted source ids;
- order: stable sort by (user, timestamp); equal timestamps keep the source file order;
- interactions: leave-one-out per user (last = test, second last = valid), users with < 3 kept as train;
- ratings/reviews: random 80/10/10, then valid/test rows whose user or item has no train row move to train;
  a split shipped by the source (P5) is kept as is;
- `splits` other than the default (protocols.py, Amazon sources): one rule labels interactions, ratings and
  reviews alike, rows ordered by (user, timestamp_ms);
- negatives: per user, distinct items the user never interacted with (nor reviewed), uniform.

The seeded building blocks are in splits.py, the on-disk cache in cache.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from llmrec.data.cache import (FORMAT_VERSION, FRAMES, SourceHashes, default_cache_dir, fingerprint, read_prepared,
                               safe_name, write_prepared)
from llmrec.data.model import Dataset, Prepared
from llmrec.data.protocols import DEFAULT_KCORE, DEFAULT_SPLITS, held_out_stats, split_protocol, splits_settings
from llmrec.data.splits import IdMap, candidates_hint, in_sorted, sample_negatives, shipped_negatives, unique_sorted
from llmrec.errors import LLMRecError

SPLIT_NAMES = {"train": "train", "val": "valid", "valid": "valid", "validation": "valid", "test": "test"}
INTERACTION_OUT = ["user", "item", "rating", "timestamp", "split"]
REVIEW_OUT = ["user", "item", "rating", "timestamp", "text", "summary", "explanation", "split"]


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


def _by_time(frame: pd.DataFrame, by_ms: bool = False) -> pd.DataFrame:
    # np.lexsort is stable: rows with equal (user, timestamp) keep their source file order.
    order = np.lexsort((frame["timestamp_ms" if by_ms else "timestamp"].to_numpy(), frame["user"].to_numpy()))
    return frame.iloc[order].reset_index(drop=True)


def _milliseconds(source: pd.DataFrame) -> dict[str, np.ndarray]:
    """The source's `timestamp_ms` (Amazon loaders add it), else its seconds * 1000: a column for the protocols
    that order and label by milliseconds; it is not written into the prepared files."""
    if "timestamp_ms" in source.columns:
        return {"timestamp_ms": source["timestamp_ms"].to_numpy(np.int64)}
    return {"timestamp_ms": source["timestamp"].to_numpy(np.int64) * 1000}


def _seen_keys(frames: list[pd.DataFrame], n_items: int) -> np.ndarray:
    """user * (n_items + 1) + item for every pair a user touched, sorted, unique."""
    keys = [f["user"].to_numpy(np.int64) * (n_items + 1) + f["item"].to_numpy(np.int64) for f in frames]
    return unique_sorted(np.concatenate(keys))


def prepare(dataset: Dataset, *, seed: int = 2023, negatives: int = 99, fingerprint: str = "",
            splits: str = DEFAULT_SPLITS) -> Prepared:
    """The deterministic split of a loaded dataset (no I/O), under the split protocol `splits`."""
    protocol = split_protocol(splits, dataset.name)
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
            **({"brand": known["brand"].fillna("").astype(str).to_numpy()} if "brand" in catalog.columns else {}),
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
            **(_milliseconds(inter) if protocol.by_ms else {}),
        }
    )
    frame = _by_time(frame, protocol.by_ms)
    frame["split"], too_short = protocol.sequences(frame)

    has_source_split, moved_reviews = False, 0
    if has_reviews:
        rev = pd.DataFrame(  # texts keep their string arrays (Arrow under pandas 3): no Python object per review
            {
                "user": users.column(1),
                "item": items.column(1),
                "rating": reviews["rating"].to_numpy(np.float64),
                "timestamp": reviews["timestamp"].to_numpy(np.int64),
                "text": reviews["text"].astype(str).array,
                "summary": reviews["summary"].astype(str).array,
                "explanation": reviews["explanation"].astype(str).array,
                **(_milliseconds(reviews) if protocol.by_ms else {}),
            }
        )
        has_source_split = "split" in reviews.columns
        if has_source_split:
            rev["split"] = _source_split(reviews["split"], dataset)
        rev = _by_time(rev, protocol.by_ms)
        if not has_source_split:
            rev["split"], moved_reviews = protocol.rows(rev, seed)
    else:
        rev = _empty_reviews()

    # Ratings: rated interactions; sources without ratings on interactions (P5) use the reviews'.
    # Same rows in the same order as the reviews (Amazon, clothing) get the same random split.
    rated, ratings_source = frame[frame["rating"].notna()], "interactions"
    if rated.empty and not rev.empty:
        rated, ratings_source = rev[rev["rating"].notna()], "reviews"
    ratings = rated[["user", "item", "rating", "timestamp", *(["timestamp_ms"] if protocol.by_ms else [])]]
    ratings = ratings.reset_index(drop=True)
    moved_ratings = 0
    if ratings_source == "reviews" and has_source_split:
        ratings["split"] = rated["split"].to_numpy()
    elif not ratings.empty:
        ratings["split"], moved_ratings = protocol.rows(ratings, seed)
    else:
        ratings["split"] = pd.Series(dtype=str)

    n_users, n_items = len(users), len(items)
    seen = _seen_keys([frame, rev], n_items)
    if dataset.negatives:
        neg = shipped_negatives(dataset, users, items, negatives)
        negatives_source = "source"
    else:
        free = n_items - np.bincount(seen // (n_items + 1), minlength=n_users + 1)[1:]
        if negatives > 0 and (free < negatives).any():
            short = int(np.argmin(free))
            raise LLMRecError(
                f"{dataset.name}: user {users.source_of(short + 1)!r} has only {int(free[short])} never-seen items, "
                f"fewer than the {negatives} negatives asked for ({candidates_hint(negatives, int(free[short]))})"
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
        "reviews_split_from": "source" if has_source_split else protocol.rows_from,
        "negatives_per_user": int(neg.shape[1]),
        "negatives_from": negatives_source,
        # Shipped negatives are used as given; say if any of them was in fact interacted with.
        "negatives_seen_by_user": int(in_sorted(seen, neg_keys[neg.ravel() > 0]).sum()),
        "catalog_items_without_interactions": int((~catalog.index.isin(items.source)).sum()),
        "items_without_title": int((items_out["title"] == "").sum()),
        # the default protocol's stats stay as they were: prepared caches and recorded runs compare them
        **({"splits": splits, **held_out_stats(frame)} if splits != DEFAULT_SPLITS else {}),
        **dataset.stats,
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


def _check_settings(seed, negatives, kcore) -> None:
    for option, value, low in (("seed", seed, 0), ("negatives", negatives, 0), ("kcore", kcore, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise LLMRecError(f"--{option}: expected an integer >= {low}, got {value!r}")


def prepare_cached(
    name: str,
    *,
    seed: int = 2023,
    negatives: int = 99,
    kcore: int = DEFAULT_KCORE,
    splits: str = DEFAULT_SPLITS,
    cache_dir: Path | None = None,
    refresh: bool = False,
) -> Prepared:
    from llmrec.data import load_dataset, resolve_dataset, source_files

    _check_settings(seed, negatives, kcore)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    files = source_files(name)  # validates the name and paths before anything is written
    split_protocol(splits, name)
    hashes = SourceHashes(cache_dir)
    sources = [{"path": str(p.resolve()), "sha256": hashes.sha256(p)} for p in files]
    settings = {"seed": int(seed), "negatives": int(negatives), "kcore": int(kcore), **splits_settings(splits)}
    fp = fingerprint(name, [s["sha256"] for s in sources], settings, resolve_dataset(name)[0].version)
    folder = cache_dir / f"{safe_name(name)}-{fp[:12]}"

    if not refresh:
        cached = read_prepared(folder, fp)
        if cached is not None:
            hashes.save()
            return cached
    prepared = prepare(load_dataset(name, kcore=kcore, splits=splits), seed=seed, negatives=negatives, fingerprint=fp,
                       splits=splits)
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
    del prepared  # its frames would otherwise be held twice while they are read back
    hashes.save()
    # Hand back what a warm call would read, so cold and warm results are the same objects.
    result = read_prepared(folder, fp, verify=False)
    if result is None:
        raise LLMRecError(f"{folder}: the prepared cache could not be read back after writing")
    return result
