"""`llmrec data list|prepare|show`: the datasets, and what preparing one gives."""

from __future__ import annotations

from pathlib import Path

import typer

from llmrec.cli.common import DATA, KCORE_HELP, SPLITS_HELP, check_data_dir
from llmrec.data.protocols import DEFAULT_KCORE, DEFAULT_SPLITS

app = typer.Typer(help="Prepare and inspect datasets.", no_args_is_help=True)

SEED = typer.Option(2023, rich_help_panel=DATA, help="Seed for the splits, id remapping and negatives.")
CANDIDATES = typer.Option(100, min=2, rich_help_panel=DATA, help="Ranking candidates: 1 target + N-1 negatives.")
KCORE = typer.Option(DEFAULT_KCORE, min=0, rich_help_panel=DATA, help=KCORE_HELP)
SPLITS = typer.Option(DEFAULT_SPLITS, rich_help_panel=DATA, help=SPLITS_HELP)


@app.command("list")
def data_list():
    """List the built-in datasets, the source formats, and the datasets prepared in the cache folder."""
    from llmrec.data import DATASETS, SOURCE_FORMATS, SPLITS
    from llmrec.data.prepare import default_cache_dir

    typer.echo("built-in datasets:")
    for name, about in DATASETS.items():
        typer.echo(f"  {name:18} {about}")
    typer.echo("source formats (a prefix, then a path or a name):")
    for name, about in SOURCE_FORMATS.items():
        typer.echo(f"  {name:18} {about}")
    typer.echo("split protocols (--splits):")
    for entry in SPLITS.entries():
        typer.echo(f"  {entry.name:18} {entry.description}")
    cache = default_cache_dir()
    found = prepared_in(cache)
    typer.echo(f"prepared in {cache}:" + ("" if found else " none yet (`llmrec data prepare NAME`)"))
    for manifest, folder in found:
        s = manifest.get("settings", {})
        typer.echo(f"  {manifest['name']:18} seed {s.get('seed')}  negatives {s.get('negatives')}  "
                   f"kcore {s.get('kcore')}  splits {s.get('splits', DEFAULT_SPLITS)}  {folder}")


def prepared_in(cache: Path) -> list[tuple[dict, Path]]:
    """(manifest, folder) of each finished preparation in `cache`, by name then folder. A finished one is a
    folder named as prepare_cached names it (<safe name>-<fingerprint[:12]>) with its manifest; temporary
    and damaged folders are left out."""
    import json

    from llmrec.data.prepare import FORMAT_VERSION, safe_name

    found = []
    for folder in sorted(cache.iterdir()) if cache.is_dir() else []:
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError, RecursionError):
            continue
        if (isinstance(manifest, dict) and manifest.get("format") == FORMAT_VERSION
                and folder.name == f"{safe_name(manifest.get('name', ''))}-{str(manifest.get('fingerprint'))[:12]}"):
            found.append((manifest, folder))
    return sorted(found, key=lambda pair: (pair[0]["name"], pair[1].name))


@app.command("prepare")
def data_prepare(
    dataset: str = typer.Argument(..., help="Dataset name (see `llmrec data list`)."),
    seed: int = SEED, candidates: int = CANDIDATES, kcore: int = KCORE, splits: str = SPLITS,
    refresh: bool = typer.Option(False, help="Prepare again even if cached."),
):
    """Load, split and cache a dataset (deterministic from the seed)."""
    from llmrec.data import prepare_for_run

    check_data_dir()

    p = prepare_for_run(dataset, seed=seed, candidates=candidates, kcore=kcore, splits=splits, refresh=refresh)
    _describe(p)


@app.command("show")
def data_show(dataset: str = typer.Argument(..., help="Dataset name (see `llmrec data list`)."),
              seed: int = SEED, candidates: int = CANDIDATES, kcore: int = KCORE, splits: str = SPLITS):
    """Show a prepared dataset's sizes, split counts and a few items."""
    from llmrec.data import prepare_for_run

    check_data_dir()

    p = prepare_for_run(dataset, seed=seed, candidates=candidates, kcore=kcore, splits=splits)
    _describe(p)
    typer.echo(p.items.head(5).to_string())


def _describe(p) -> None:
    typer.echo(f"{p.name}  fingerprint {p.fingerprint[:12]}  seed {p.seed}")
    typer.echo(f"  items {len(p.items)}  users {p.negatives.shape[0] - 1}  negatives/user {p.negatives.shape[1]}")
    for label, frame in (("interactions", p.interactions), ("ratings", p.ratings), ("reviews", p.reviews)):
        if len(frame):
            split = frame["split"].value_counts().to_dict()
            typer.echo(f"  {label:12} {len(frame):>8}  " + "  ".join(f"{k} {split.get(k, 0)}" for k in
                                                                      ("train", "valid", "test")))
    shown = {"interactions", "ratings", "reviews", "items"}
    for k, v in p.stats.items():
        if k not in shown and not k.endswith("_split"):  # those are in the lines above
            typer.echo(f"  {k}: {v}")
