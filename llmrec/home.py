"""Where llmrec keeps what it makes: prepared data, run folders and trained recommenders.

Relative to the current folder by default (`data/prepared`, `results/runs`), so a checkout keeps them
together; `$LLMREC_HOME` puts both under one folder wherever llmrec runs (a pip-installed llmrec), and
`$LLMREC_DATA_DIR` moves the data alone.
"""

from __future__ import annotations

import os
from pathlib import Path


def _home() -> Path:
    root = os.environ.get("LLMREC_HOME")
    return Path(root).expanduser() if root else Path()


def data_dir() -> Path:
    """$LLMREC_DATA_DIR, else $LLMREC_HOME/data, else ./data (prepared datasets go in its prepared/)."""
    root = os.environ.get("LLMREC_DATA_DIR")
    return Path(root).expanduser() if root else _home() / "data"


def runs_dir() -> Path:
    """$LLMREC_HOME/results/runs, else ./results/runs: where bench writes and report, check read."""
    return _home() / "results" / "runs"


def trained_dir() -> Path:
    """$LLMREC_HOME/results/trained, else ./results/trained: trained neural recommenders, named by content."""
    return _home() / "results" / "trained"
