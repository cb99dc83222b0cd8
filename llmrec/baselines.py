"""Classic recommenders run through the same samples and metrics as LLMs, so every score has a reference.

They are fitted on the training split only and return predictions directly (no text, no parsing).
Ranked lists are cut at MAX_RANKED items (MRR is computed over the returned list).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from llmrec.errors import LLMRecError
from llmrec.heap import large_buffers_reused
from llmrec.tasks.base import first_sentence
from llmrec.types import Prediction, Sample

MAX_RANKED = 100


class Classic:
    name = ""
    tasks: frozenset[str] = frozenset()
    about = ""

    def __init__(self, seed: int = 2023):
        self.seed = seed

    def fit(self, prepared) -> None:
        self.prepared = prepared

    def hyperparameters(self) -> dict:
        """Everything that shapes the model's outputs (part of a run's identity)."""
        return {"seed": self.seed}

    def fit_report(self) -> dict:
        """What fitting chose (recorded in the run manifest)."""
        return {}

    def predict(self, samples: Sequence[Sample]) -> list[Prediction]:
        return [Prediction(self.predict_one(s)) for s in samples]


class Ranker(Classic):
    """Scores items; direct ranks the candidates, sequential ranks the catalog minus the user's history."""

    tasks = frozenset({"sequential", "direct"})

    def scores(self, sample: Sample, items: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_one(self, sample: Sample) -> list[int]:
        if sample.task == "direct":
            items = np.asarray(sample.candidates)
        else:
            items = self.prepared.items.index.to_numpy()
            items = items[~np.isin(items, sample.variables["seen"])]
        scores = self.scores(sample, items)
        order = np.lexsort((items, -scores))  # ties broken by item id: deterministic
        return items[order][:MAX_RANKED].tolist()


class RandomModel(Ranker):
    name, about = "random", "uniform random ratings (1-5) and rankings"
    tasks = frozenset({"rating", "sequential", "direct"})

    def scores(self, sample, items):
        return np.random.default_rng([self.seed, sample.user]).random(len(items))

    def predict_one(self, sample):
        if sample.task == "rating":
            return float(np.random.default_rng([self.seed, sample.user, sample.item]).integers(1, 6))
        return super().predict_one(sample)


class Popularity(Ranker):
    name = "popularity"
    about = "items ranked by their number of training interactions; ratings: the global mean"
    tasks = frozenset({"rating", "sequential", "direct"})

    def fit(self, prepared):
        super().fit(prepared)
        train = prepared.interactions[prepared.interactions["split"] == "train"]
        self.counts = np.bincount(train["item"], minlength=len(prepared.items) + 1).astype(float)
        self.mean = float(prepared.ratings.loc[prepared.ratings["split"] == "train", "rating"].mean())

    def scores(self, sample, items):
        return self.counts[items]

    def predict_one(self, sample):
        return self.mean if sample.task == "rating" else super().predict_one(sample)


class ItemKNN(Ranker):
    name, about = "itemknn", "item co-occurrence (cosine over training users), summed over the user's history"

    def fit(self, prepared):
        from scipy import sparse

        super().fit(prepared)
        train = prepared.interactions[prepared.interactions["split"] == "train"]
        pairs = train[["user", "item"]].drop_duplicates()
        shape = (int(prepared.interactions["user"].max()) + 1, len(prepared.items) + 1)
        x = sparse.csr_matrix((np.ones(len(pairs)), (pairs["user"], pairs["item"])), shape=shape)
        norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel())
        norms[norms == 0] = 1.0
        self.x = x.multiply(1.0 / norms).tocsc()  # columns scaled: X^T X is then the cosine

    def scores(self, sample, items):
        seen = np.asarray(sample.variables["seen"])
        profile = np.asarray(self.x[:, seen].sum(axis=1)).ravel()  # users weighted by co-occurrence
        return self.x[:, items].T.dot(profile)


class Means(Classic):
    tasks = frozenset({"rating"})
    key = ""

    def fit(self, prepared):
        super().fit(prepared)
        train = prepared.ratings[prepared.ratings["split"] == "train"]
        self.mean = float(train["rating"].mean())
        self.by_key = train.groupby(self.key)["rating"].mean().to_dict()

    def predict_one(self, sample):
        return float(self.by_key.get(getattr(sample, self.key), self.mean))


class UserMean(Means):
    name, key, about = "user-mean", "user", "the user's mean training rating"


class ItemMean(Means):
    name, key, about = "item-mean", "item", "the item's mean training rating"


class MatrixFactorization(Classic):
    """Biased MF (global + user + item bias + dot product), full-batch Adam with L2, seeded."""

    name, about = "mf", "biased matrix factorization fitted on training ratings"
    tasks = frozenset({"rating"})

    def __init__(self, seed=2023, dim=32, epochs=150, lr=0.03, l2=0.05):
        super().__init__(seed)
        self.dim, self.epochs, self.lr, self.l2 = dim, epochs, lr, l2

    def fit(self, prepared):
        import torch

        super().fit(prepared)
        train = prepared.ratings[prepared.ratings["split"] == "train"]
        g = torch.Generator().manual_seed(self.seed)
        users = torch.tensor(train["user"].to_numpy(), dtype=torch.long)
        items = torch.tensor(train["item"].to_numpy(), dtype=torch.long)
        y = torch.tensor(train["rating"].to_numpy(), dtype=torch.float32)
        n_users, n_items = int(prepared.ratings["user"].max()) + 1, len(prepared.items) + 1
        params = {
            "p": (torch.randn(n_users, self.dim, generator=g) * 0.01).requires_grad_(),
            "q": (torch.randn(n_items, self.dim, generator=g) * 0.01).requires_grad_(),
            "bu": torch.zeros(n_users, requires_grad=True),
            "bi": torch.zeros(n_items, requires_grad=True),
        }
        self.mu = float(y.mean())
        opt = torch.optim.Adam(params.values(), lr=self.lr)
        with large_buffers_reused():
            for _ in range(self.epochs):
                opt.zero_grad()
                # index_select: its backward is several times faster than fancy indexing's on CPU
                p, q = params["p"].index_select(0, users), params["q"].index_select(0, items)
                pred = (self.mu + params["bu"].index_select(0, users) + params["bi"].index_select(0, items)
                        + (p * q).sum(1))
                loss = ((pred - y) ** 2).mean() + self.l2 * ((p**2).sum(1) + (q**2).sum(1)).mean()
                loss.backward()
                opt.step()
        self.params = {k: v.detach() for k, v in params.items()}

    def predict_one(self, sample):
        p = self.params
        value = self.mu + p["bu"][sample.user] + p["bi"][sample.item] + p["p"][sample.user] @ p["q"][sample.item]
        return float(np.clip(float(value), 1.0, 5.0))


class Lead(Classic):
    """Review: the review's first sentence. Explanation: the first sentence of the item's latest training
    review by another user (the test review itself is the reference), else the item's title."""

    name, about = "lead", "lead sentence of the review (review) or of the item's latest training review (explanation)"
    tasks = frozenset({"review", "explanation"})

    def fit(self, prepared):
        super().fit(prepared)
        train = prepared.reviews[prepared.reviews["split"] == "train"].sort_values("timestamp", kind="stable")
        self.latest = {int(i): str(t) for i, t in zip(train["item"], train["text"])}

    def predict_one(self, sample):
        if sample.task == "review":
            return first_sentence(sample.variables["review"])
        text = self.latest.get(sample.item)
        return first_sentence(text) if text else sample.variables["title"]


CLASSIC: dict[str, type[Classic]] = {
    m.name: m for m in (RandomModel, Popularity, ItemKNN, MatrixFactorization, UserMean, ItemMean, Lead)
}


def load_classic(name: str, task: str, seed: int) -> Classic:
    model = CLASSIC[name](seed=seed)
    if task not in model.tasks:
        able = ", ".join(n for n, m in CLASSIC.items() if task in m.tasks)
        raise LLMRecError(f"model '{name}' does not do the {task} task (classic models that do: {able})")
    return model
