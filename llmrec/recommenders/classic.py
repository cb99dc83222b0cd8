"""The classic references: random, popularity, item kNN, user/item means, biased MF and the lead sentence.

Each answers a task's Query from the prepared data it was fitted on (mf also reads the valid ratings, to
choose its L2 and when to stop; no model reads test). Ranked lists are cut at MAX_RANKED items (MRR is
computed over the returned list).
"""

from __future__ import annotations

import numpy as np

from llmrec.errors import LLMRecError
from llmrec.heap import large_buffers_reused
from llmrec.recommenders.base import Ranker, Recommender
from llmrec.tasks.base import first_sentence

SIMILARITY_BLOCK = 2**23  # dense similarity entries computed at once (64 MiB of float64)


class RandomModel(Ranker):
    name, about = "random", "uniform random ratings (1-5) and rankings"
    hyperparameter_names = ("seed", *Ranker.hyperparameter_names)

    def scores(self, query, items):
        return np.random.default_rng([self.seed, query.user]).random(len(items))

    def rate(self, query):
        return float(np.random.default_rng([self.seed, query.user, query.item]).integers(1, 6))


class Popularity(Ranker):
    name = "popularity"
    about = "items ranked by their number of training interactions; ratings: the global mean"

    def fit(self, prepared):
        super().fit(prepared)
        train = prepared.interactions[prepared.interactions["split"] == "train"]
        self.counts = np.bincount(train["item"], minlength=len(prepared.items) + 1).astype(float)
        self.mean = float(prepared.ratings.loc[prepared.ratings["split"] == "train", "rating"].mean())

    def scores(self, query, items):
        return self.counts[items]

    def rate(self, query):
        return self.mean


class ItemKNN(Ranker):
    """Item-based kNN as RecBole's ItemKNN defines it (Sarwar et al. 2001): the neighbours are the candidate's.

    sim(j, i) is the cosine of items j and i over the training users (binary interactions). Each item i keeps
    its k most similar other items N_k(i) (ties go to the lower item id; zero similarities are dropped), and
    score(user, i) = sum of sim(j, i) over the distinct items j of the user's history that are in N_k(i).
    k=None keeps every neighbour: the score is then the cosine summed over the whole history. (Keeping each
    history item's k neighbours instead, as Deshpande & Karypis 2004 do, measured direct HR@10 0.556 / 0.597
    on MovieLens-100k / 1M against 0.611 / 0.665 here, k=100.)
    """

    name = "itemknn"
    about = "item cosine over training users: the candidate's k nearest items, summed over the history (k=100)"
    hyperparameter_names = ("k", *Ranker.hyperparameter_names)

    def __init__(self, seed=2023, device="cpu", k: int | None = 100):
        super().__init__(seed, device)
        if k is not None and k < 1:
            raise LLMRecError(f"itemknn: k must be a positive number of neighbours or None, got {k}")
        self.k = k

    def fit(self, prepared):
        from scipy import sparse

        super().fit(prepared)
        train = prepared.interactions[prepared.interactions["split"] == "train"]
        pairs = train[["user", "item"]].drop_duplicates()
        shape = (int(prepared.interactions["user"].max()) + 1, len(prepared.items) + 1)
        x = sparse.csc_matrix((np.ones(len(pairs)), (pairs["user"], pairs["item"])), shape=shape)
        self.neighbours = cosine_neighbours(x, self.k)

    def scores(self, query, items):
        seen = np.unique(query.history)
        return np.asarray(self.neighbours[seen].sum(axis=0)).ravel()[items]


def cosine_neighbours(x, k: int | None):
    """W (CSR, items x items) with W[j, i] = cos(j, i) for the k items j most similar to item i, i itself
    excluded; x is the binary users x items matrix (CSC). Columns are computed in blocks, so memory stays
    at a few dense blocks whatever the catalog size. Co-occurrence counts are exact integers and every
    cosine is count / (norm_j * norm_i), so equal inputs give bitwise equal similarities (and fair ties)."""
    from scipy import sparse

    n = x.shape[1]
    norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel())
    norms[norms == 0] = 1.0
    xt = x.T.tocsr()
    width = max(1, SIMILARITY_BLOCK // n)
    blocks = []
    for start in range(0, n, width):
        stop = min(n, start + width)
        sims = (xt @ x[:, start:stop]).toarray() / np.outer(norms, norms[start:stop])
        sims[np.arange(start, stop), np.arange(stop - start)] = 0.0  # no item is its own neighbour
        blocks.append(sparse.csc_matrix(sims if k is None or k >= n else top_k_per_column(sims, k)))
    return sparse.hstack(blocks, format="csr")


def top_k_per_column(sims: np.ndarray, k: int) -> np.ndarray:
    """sims with all but each column's k largest entries set to 0; among equal values the lower rows win."""
    kth = -np.partition(-sims, k - 1, axis=0)[k - 1]
    above, tied = sims > kth, sims == kth
    room = k - above.sum(axis=0)
    keep = above | (tied & (np.cumsum(tied, axis=0) <= room))
    return np.where(keep, sims, 0.0)


class Means(Recommender):
    key = ""

    def fit(self, prepared):
        super().fit(prepared)
        train = prepared.ratings[prepared.ratings["split"] == "train"]
        self.mean = float(train["rating"].mean())
        self.by_key = train.groupby(self.key)["rating"].mean().to_dict()

    def rate(self, query):
        return float(self.by_key.get(getattr(query, self.key), self.mean))


class UserMean(Means):
    name, key, about = "user-mean", "user", "the user's mean training rating"


class ItemMean(Means):
    name, key, about = "item-mean", "item", "the item's mean training rating"


class MatrixFactorization(Recommender):
    """Biased MF: r(u, i) = mu + b_u + b_i + p_u . q_i, clipped to 1-5 (Koren, Bell & Volinsky 2009, eq. 4).

    Fitting reads the train and valid ratings only. For each l2 in `l2_grid`, from the same seeded start:
    full-batch Adam on the train squared error + l2 * (|p_u|^2 + |q_i|^2), both averaged over the train
    ratings (biases unregularized). After every epoch the valid RMSE is measured; an epoch that lowers the best
    by more than `tol` becomes the best and its parameters are kept; fitting stops `patience` epochs after the
    last best, or at `max_epochs`. The l2 whose best epoch has the lowest valid RMSE predicts, with the
    parameters of that epoch. `fit_report()` records the choice (l2, dim, best_epoch, valid_rmse, epochs_run)
    and, per grid point, the same and its valid RMSE after every epoch.
    """

    name, about = "mf", "biased matrix factorization; L2 picked and early-stopped on the valid ratings"
    hyperparameter_names = ("seed", "dim", "init_std", "lr", "max_epochs", "patience", "tol", "l2_grid")

    def __init__(self, seed=2023, device="cpu", dim=32, init_std=0.1, lr=0.06, max_epochs=300, patience=20, tol=1e-4,
                 l2_grid=(0.05, 0.1, 0.2)):
        super().__init__(seed, device)
        self.dim, self.init_std, self.lr = dim, init_std, lr
        self.max_epochs, self.patience, self.tol = max_epochs, patience, tol
        self.l2_grid = tuple(l2_grid)
        self._report: dict = {}

    def fit(self, prepared):
        super().fit(prepared)
        train, valid = (rating_tensors(prepared.ratings, split) for split in ("train", "valid"))
        if not len(valid[2]):
            raise LLMRecError(f"mf: dataset '{prepared.name}' has no valid ratings to choose L2 and stop on")
        self.mu = float(train[2].mean())
        shape = (int(prepared.interactions["user"].max()) + 1, len(prepared.items) + 1)
        with large_buffers_reused():
            fits = [self._fit_l2(l2, train, valid, shape) for l2 in self.l2_grid]
        chosen = min(range(len(fits)), key=lambda n: fits[n][1]["valid_rmse"])  # ties: the first (smaller l2)
        self.params = fits[chosen][0]
        summary = {k: v for k, v in fits[chosen][1].items() if k != "valid_rmse_by_epoch"}
        self._report = {"l2": self.l2_grid[chosen], "dim": self.dim, **summary,
                        "grid": [{"l2": l2, **trace} for l2, (_, trace) in zip(self.l2_grid, fits)]}

    def fit_report(self) -> dict:
        return self._report

    def _fit_l2(self, l2, train, valid, shape):
        """The best valid epoch's parameters and {best_epoch, valid_rmse, epochs_run}."""
        import torch

        g = torch.Generator().manual_seed(self.seed)
        params = {
            "p": (torch.randn(shape[0], self.dim, generator=g) * self.init_std).requires_grad_(),
            "q": (torch.randn(shape[1], self.dim, generator=g) * self.init_std).requires_grad_(),
            "bu": torch.zeros(shape[0], requires_grad=True),
            "bi": torch.zeros(shape[1], requires_grad=True),
        }
        # Ratings per user and per item: the L2 term averaged over ratings, summed per row instead of per rating.
        counts = (torch.bincount(train[0], minlength=shape[0]).float() / len(train[2]),
                  torch.bincount(train[1], minlength=shape[1]).float() / len(train[2]))
        opt = torch.optim.Adam(params.values(), lr=self.lr)
        best_rmse, best_epoch, best, curve = float("inf"), 0, None, []
        for epoch in range(1, self.max_epochs + 1):
            opt.zero_grad()
            self._loss(params, train, l2, counts).backward()
            opt.step()
            with torch.no_grad():
                rmse = float(((self._predict(params, valid[0], valid[1]) - valid[2]) ** 2).mean().sqrt())
            curve.append(round(rmse, 6))
            if rmse < best_rmse - self.tol:
                best_rmse, best_epoch = rmse, epoch
                best = {k: v.detach().clone() for k, v in params.items()}
            elif epoch - best_epoch >= self.patience:
                break
        return best, {"best_epoch": best_epoch, "valid_rmse": round(best_rmse, 6), "epochs_run": epoch,
                      "valid_rmse_by_epoch": curve}

    def _loss(self, params, ratings, l2, counts):
        users, items, y = ratings
        # index_select: its backward is several times faster than fancy indexing's on CPU
        p, q = params["p"].index_select(0, users), params["q"].index_select(0, items)
        pred = self.mu + params["bu"].index_select(0, users) + params["bi"].index_select(0, items) + (p * q).sum(1)
        penalty = counts[0] @ (params["p"] ** 2).sum(1) + counts[1] @ (params["q"] ** 2).sum(1)
        return ((pred - y) ** 2).mean() + l2 * penalty

    def _predict(self, params, users, items):
        p, q = params["p"][users], params["q"][items]
        return (self.mu + params["bu"][users] + params["bi"][items] + (p * q).sum(-1)).clamp(1.0, 5.0)

    def rate(self, query):
        return float(self._predict(self.params, query.user, query.item))


def rating_tensors(ratings, split: str):
    """(users, items, ratings) tensors of one split of the ratings frame."""
    import torch

    rows = ratings[ratings["split"] == split]
    return (torch.tensor(rows["user"].to_numpy(), dtype=torch.long),
            torch.tensor(rows["item"].to_numpy(), dtype=torch.long),
            torch.tensor(rows["rating"].to_numpy(), dtype=torch.float32))


class Lead(Recommender):
    """Review: the review's first sentence. Explanation: the first sentence of the item's latest training
    review by another user (the test review itself is the reference), else the item's title."""

    name, about = "lead", "lead sentence of the review (review) or of the item's latest training review (explanation)"

    def fit(self, prepared):
        super().fit(prepared)
        train = prepared.reviews[prepared.reviews["split"] == "train"].sort_values("timestamp", kind="stable")
        self.latest = {int(i): str(t) for i, t in zip(train["item"], train["text"])}
        self.title = prepared.items["title"].to_dict()

    def write(self, query):
        if query.text is not None:  # a text to summarise
            return first_sentence(query.text)
        text = self.latest.get(query.item)
        return first_sentence(text) if text else self.title[query.item]


MODELS = (RandomModel, Popularity, ItemKNN, MatrixFactorization, UserMean, ItemMean, Lead)
