"""Tasks and recommenders from outside llmrec: modules named in $LLMREC_PLUGINS register them on import.

    LLMREC_PLUGINS=my_tasks,./my_model.py llmrec bench --model my-model --task my-task

Each entry is an importable module name or a path to a .py file; importing it runs its
`TASKS.add(...)` / `add_recommender(...)` calls. Loaded once, before any command runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from llmrec.errors import LLMRecError

ENV = "LLMREC_PLUGINS"


def load_plugins(spec: str | None = None) -> list[str]:
    """Import every plugin of `spec` (default: $LLMREC_PLUGINS); returns their module names."""
    spec = os.environ.get(ENV, "") if spec is None else spec
    return [_load(entry.strip()) for entry in spec.split(",") if entry.strip()]


def _load(entry: str) -> str:
    path = Path(entry).expanduser()
    try:
        if entry.endswith(".py"):
            if not path.is_file():
                raise LLMRecError(f"{ENV}: {entry}: no such file")
            name = f"llmrec_plugin_{path.stem}"
            if name not in sys.modules:
                module_spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(module_spec)
                sys.modules[name] = module
                module_spec.loader.exec_module(module)
            return name
        importlib.import_module(entry)
        return entry
    except LLMRecError:
        raise
    except Exception as e:  # a plugin's own error: say which plugin, in one line
        sys.modules.pop(f"llmrec_plugin_{path.stem}", None)
        raise LLMRecError(f"{ENV}: cannot load {entry}: {type(e).__name__}: {e}") from None
