"""What several commands share: the --help panels and the checks of a dataset and a model name."""

from __future__ import annotations

from pathlib import Path

from llmrec.errors import LLMRecError

# --help groups options under these headings (typer's rich_help_panel).
DATA = "Data"
PROMPT = "Prompt"
MODEL = "Model and backend"
TRAINING = "Training"
OUTPUT = "Output"

SPLITS_HELP = ("Split protocol: llmrec (leave-one-out sequences, random ratings and reviews), or, for amazon:PATH "
               "datasets, the Amazon Reviews 2023 benchmark's amazon-last-out or amazon-timestamp (repeated reviews "
               "removed). Runs under different protocols are not comparable.")
KCORE_HELP = "Raw Amazon dumps: keep users and items with at least K interactions (0: no filter)."
CONFIG_HELP = ("YAML file of options (names as the flags, dashes or underscores); flags given here win. "
               "A run folder's config.yaml re-runs that run.")


def check_data_dir() -> None:
    """The prepared-data folder can be written (refused in one line naming the setting that chose it)."""
    import os

    from llmrec.files import check_writable_folder
    from llmrec.home import data_dir

    origin = next((v for v in ("LLMREC_DATA_DIR", "LLMREC_HOME") if os.environ.get(v)), "data folder")
    check_writable_folder(data_dir(), origin)


def check_datasets(config) -> None:
    """Each task's dataset is known and takes the split protocol asked for (before any data is prepared)."""
    from llmrec.data import resolve_dataset
    from llmrec.data.protocols import split_protocol

    for task in config.tasks:
        resolve_dataset(config.dataset or task.default_dataset)
        split_protocol(config.splits, config.dataset or task.default_dataset)


def check_model_name(name: str, *, base_url: str | None = None, backend: str = "auto",
                     classic_too: bool = True) -> None:
    """A name that is no alias, classic model, path, hub id with a '/', or server model, yet is close to an
    alias or classic model, is a typo: say which one was meant instead of letting the hub report it missing.
    Without a close match the name goes on (hub ids such as 'gpt2' have no '/')."""
    if "/" in name or base_url or backend == "openai" or Path(name).expanduser().exists():
        return
    from llmrec.backends.models import registry
    from llmrec.registry import suggestion

    known = list(registry())
    if classic_too:
        from llmrec.recommenders import RECOMMENDERS

        known += RECOMMENDERS.names()
    if name in known:
        return
    hint = suggestion(name, known)
    if hint:
        raise LLMRecError(f"unknown model '{name}': did you mean {hint}?")
