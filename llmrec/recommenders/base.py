"""What every recommender shares: fitting on prepared data, hyperparameters, saving and loading its fit.

A recommender answers a task's `Query` with one of three methods, and does exactly the tasks whose
`recommender_method` it has: `rate(query) -> float`, `rank(query) -> list of item ids, best first`,
`write(query) -> str`. It never sees a prompt.
"""

from __future__ import annotations

import inspect
import pickle
from pathlib import Path

import numpy as np

from llmrec.errors import LLMRecError
from llmrec.types import Query

MAX_RANKED = 100
SAVE_FORMAT = 1


class Recommender:
    """A model fitted on a prepared dataset's train split (and valid, to tune; never test).

    `hyperparameters()` is everything that shapes its outputs, set before fitting (part of a run's identity);
    `fit_report()` is what fitting chose from the data, empty when it chooses nothing (recorded in the run
    manifest). Both are JSON-able. `save`/`load` keep a fitted model, so a resumed run does not fit again.
    """

    name = ""
    about = ""
    kind = "classic"  # listed by `llmrec models`: classic, or trained (a neural model fitted by the trainer)
    hyperparameter_names: tuple[str, ...] = ()  # attributes that shape the outputs (and __init__ arguments)
    uses_device = False  # computes on `device` (bench --device); the others run on the CPU and refuse it

    def __init__(self, seed: int = 2023, device: str = "cpu"):
        self.seed = seed
        self.device = device  # where a model that computes with torch runs; numpy models ignore it

    @classmethod
    def options(cls) -> dict[str, str]:
        """The keyword arguments it takes (`--model-args`), with their defaults; seed and device come from bench."""
        params = inspect.signature(cls.__init__).parameters.values()
        return {p.name: f"default {p.default!r}" for p in params
                if p.name not in ("self", "seed", "device") and p.kind is p.POSITIONAL_OR_KEYWORD}

    def hyperparameters(self) -> dict:
        return {name: _jsonable(getattr(self, name)) for name in self.hyperparameter_names}

    def fit_report(self) -> dict:
        return {}

    def fit(self, prepared) -> None:
        """Learn from `prepared` (keep only what predicting needs: the fit is saved)."""

    def use_cache(self, folder: Path, reuse: bool) -> None:
        """Where a model that trains long may keep its training by content (`reuse` False: train again)."""

    def fitted_state(self) -> dict:
        """What `save` keeps: the fitted attributes."""
        return self.__dict__

    # -- a fitted model on disk: its state next to the name and hyperparameters that made it
    def save(self, path: Path) -> None:
        from llmrec.files import write_bytes

        state = {"format": SAVE_FORMAT, "name": self.name, "hyperparameters": self.hyperparameters(),
                 "state": self.fitted_state()}
        write_bytes(path, pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))

    def load(self, path: Path) -> bool:
        """Restore a fit saved by `save` for the same model and hyperparameters; False when there is none."""
        if not path.is_file():
            return False
        try:
            saved = pickle.loads(path.read_bytes())
        except Exception as e:  # a torn or foreign file: refit rather than trust it
            raise LLMRecError(f"{path}: not a saved {self.name} model ({type(e).__name__}); "
                              "delete it to refit") from None
        if saved.get("name") != self.name or saved.get("hyperparameters") != self.hyperparameters():
            return False
        self.__dict__.update(saved["state"])
        return True


class Ranker(Recommender):
    """Scores items; ranks the query's candidates, or the catalog minus the user's history."""

    max_ranked = MAX_RANKED
    hyperparameter_names = ("max_ranked",)

    def fit(self, prepared) -> None:
        self.catalog = prepared.items.index.to_numpy()

    def scores(self, query: Query, items: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def rank(self, query: Query) -> list[int]:
        if query.candidates is not None:
            items = np.asarray(query.candidates)
        else:
            items = self.catalog[~np.isin(self.catalog, query.history)]
        scores = self.scores(query, items)
        order = np.lexsort((items, -scores))  # ties broken by item id: deterministic
        return items[order][: self.max_ranked].tolist()


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value
