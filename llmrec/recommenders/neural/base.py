"""A neural sequential recommender: hyperparameters, training through the shared trainer, the content cache.

A model subclass names its own hyperparameters (`own`, merged over `COMMON`), builds its network
(`network(n_items, attributes)`: a torch module with `loss(batch)` and `score(histories)`), and may change
how training batches are drawn (`batches`). Fitting trains once per content key: the model's name,
hyperparameters and seed, the sha256 of its code (the shared modules, its network module and its class) and
of the training data (train and valid splits). The trained weights and the epoch checkpoints live in `<trained dir>/<model>-<key>/`, so a
second bench (another task, another run) reuses them, and a crashed training resumes; `bench --fresh`
trains again.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import shutil
from importlib import import_module
from pathlib import Path

import numpy as np

from llmrec.errors import LLMRecError
from llmrec.recommenders.base import Ranker
from llmrec.recommenders.neural.data import Sequences, left_padded, sequences_of
from llmrec.recommenders.neural.trainer import CHECKPOINT, FINAL, Schedule, Trainer, torch_device, valid_ndcg

COMMON = {"hidden": 64, "max_length": 200, "dropout": 0.2, "lr": 1e-3, "weight_decay": 0.0, "batch_size": 128,
          "epochs": 200, "patience": 10}
PACKAGE = Path(__file__).parent
NETWORKS = "llmrec.recommenders.neural.networks"
SHARED_CODE = tuple(PACKAGE / name for name in ("base.py", "data.py", "trainer.py", "networks/layers.py"))


class NeuralRecommender(Ranker):
    kind, uses_device = "trained", True
    own: dict = {}  # the model's own hyperparameters, and its defaults for COMMON ones
    choices: dict = {}  # hyperparameter -> the values it may take

    @classmethod
    def defaults(cls) -> dict:
        return {**COMMON, **cls.own, "max_ranked": cls.max_ranked}

    def __init__(self, seed: int = 2023, device: str = "auto", **options):
        super().__init__(seed, device)
        for name, default in self.defaults().items():
            setattr(self, name, _checked(self.name, name, options.pop(name, default), default, self.choices))
        if options:
            raise LLMRecError(f"{self.name}: unknown hyperparameter {', '.join(options)}")
        self.cache_root, self.reuse = None, True
        self.weights, self.report, self._net = None, {}, None

    @property
    def hyperparameter_names(self) -> tuple[str, ...]:
        return tuple(self.defaults())

    @classmethod
    def options(cls) -> dict[str, str]:
        return {name: f"default {value!r}" for name, value in cls.defaults().items()}

    # -- what a model defines
    network_module = ""  # its module in networks/
    network_imports: tuple[str, ...] = ()  # other modules of networks/ that it builds on (hashed in its key)

    def network(self, n_items: int, attributes: np.ndarray):
        """The torch module: `loss(batch) -> scalar` and `score(histories (B, L)) -> (B, n_items + 1)`.
        `attributes` is each item's 0-padded attribute ids, for models that read side information."""
        return import_module(f"{NETWORKS}.{self.network_module}").Network(n_items, attributes,
                                                                          **self.hyperparameters())

    def batches(self, data: Sequences, rng: np.random.Generator):
        """Shuffled users; each row the last max_length + 1 training items, left-padded with 0."""
        rows = self.trainable(data)
        order = rng.permutation(rows)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            yield {"sequence": left_padded([data.train[r] for r in chunk], self.max_length + 1), "user": chunk}

    def trainable(self, data: Sequences) -> np.ndarray:
        """Users whose training sequence has a next item to learn (two items or more)."""
        return np.flatnonzero(np.array([len(s) for s in data.train]) >= 2)

    def n_batches(self, data: Sequences) -> int:
        return -(-len(self.trainable(data)) // self.batch_size)

    # -- fitting and the cache
    def use_cache(self, folder: Path, reuse: bool) -> None:
        self.cache_root, self.reuse = Path(folder), reuse

    def content_key(self, data: Sequences) -> str:
        shaping = {k: v for k, v in self.hyperparameters().items() if k != "max_ranked"}  # only cuts lists
        identity = {"model": self.name, "hyperparameters": shaping, "seed": self.seed,
                    "code": self.code_hash(), "data": data.fingerprint}
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    def code_hash(self) -> str:
        """The shared machinery, the network module and the model's own class: what shapes its training."""
        digest = hashlib.sha256()
        for module in (self.network_module, *self.network_imports):
            digest.update((PACKAGE / "networks" / f"{module}.py").read_bytes())
        for path in SHARED_CODE:
            digest.update(path.read_bytes())
        digest.update(inspect.getsource(type(self)).encode())
        return digest.hexdigest()

    def fit(self, prepared) -> None:
        import torch

        super().fit(prepared)
        data = sequences_of(prepared)
        self.shape = {"n_items": data.n_items, "attributes": data.attributes}
        key = self.content_key(data)
        folder = (self.cache_root or Path("results/trained")) / f"{self.name}-{key[:16]}"
        if not self.reuse and folder.exists():
            shutil.rmtree(folder)
        if (folder / FINAL).is_file():
            saved = torch.load(folder / FINAL, map_location="cpu", weights_only=False)
            self.weights, self.report = saved["weights"], {**saved["report"], "reused": str(folder)}
            return
        device = torch_device(self.device)
        torch.manual_seed(self.seed)
        net = self.network(data.n_items, data.attributes)
        schedule = Schedule(self.epochs, self.patience, self.lr, self.weight_decay, self.seed)
        trainer = self.trainer(folder, schedule, device)
        self.weights, report = trainer.fit(net, lambda rng: self.batches(data, rng), self.n_batches(data),
                                           lambda n: valid_ndcg(n, data, self.max_length, device))
        self.report = {**report, "key": key, "folder": str(folder)}
        self._save_final(folder / FINAL)
        (folder / CHECKPOINT).unlink(missing_ok=True)

    def trainer(self, folder: Path, schedule: Schedule, device: str) -> Trainer:
        return Trainer(self.name, schedule, device, folder)

    def _save_final(self, path: Path) -> None:
        import torch

        from llmrec.files import atomic_open

        with atomic_open(path, binary=True) as handle:
            torch.save({"weights": self.weights, "report": self.report, "model": self.name,
                        "hyperparameters": self.hyperparameters(), "seed": self.seed}, handle)

    def fit_report(self) -> dict:
        return {k: v for k, v in self.report.items() if k != "history"}

    def fitted_state(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_net"}

    # -- predicting
    def net(self):
        if self._net is None:
            import torch

            net = self.network(self.shape["n_items"], self.shape["attributes"])
            net.load_state_dict(self.weights)
            self._net = net.to(torch_device(self.device)).eval()
            self._torch = torch
        return self._net

    def scores(self, query, items: np.ndarray) -> np.ndarray:
        net = self.net()
        history = np.asarray(query.history, np.int64)
        with self._torch.no_grad():
            batch = self._torch.as_tensor(left_padded([history], self.max_length),
                                          device=next(net.parameters()).device)
            scores = net.score(batch)[0].float().cpu().numpy()
        return scores[items]


def _checked(model: str, name: str, value, default, choices: dict):
    """A hyperparameter value of its default's type (an int where a float is expected is fine)."""
    kind = type(default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise LLMRecError(f"--model-args {name}: {model} expects {kind.__name__}, got {value!r}")
    if name in choices and value not in choices[name]:
        raise LLMRecError(f"--model-args {name}: {model} takes one of {', '.join(map(str, choices[name]))}, "
                          f"got {value!r}")
    if kind in (int, float) and value < 0:
        raise LLMRecError(f"--model-args {name}: {model} expects a non-negative number, got {value!r}")
    return value
