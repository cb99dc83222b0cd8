"""Training speed of the neural recommenders, measured side by side in one process.

    python benchmarks/training_speed.py [--dataset movielens-1m] [--models all] [--batches 6] [--rounds 3]

Each model trains on the same dataset's training batches with its default hyperparameters; the models take
turns (round-robin, `--rounds` times `--batches` batches each, after one warm-up batch), so machine noise
falls on all of them alike. Printed per model: milliseconds per batch (median over rounds), the batches in one
epoch, the seconds one epoch takes at that rate (training only; the valid pass is extra), and the ratio to the
first model's epoch. A model's total training time is its epochs (early stopping decides them) times this.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def prepared_sequences(dataset: str):
    from llmrec.data import prepare_for_run
    from llmrec.recommenders.neural.data import sequences_of

    return sequences_of(prepare_for_run(dataset, seed=2023, candidates=100))


class Contender:
    """One model's network, optimiser and an endless supply of its own training batches."""

    def __init__(self, name: str, data):
        import torch

        from llmrec.recommenders import make_recommender

        self.name, self.data = name, data
        self.model = make_recommender(name, seed=2023, device="cpu")
        torch.manual_seed(2023)
        self.net = self.model.network(data.n_items, data.attributes).train()
        self.optimiser = torch.optim.Adam(self.net.parameters(), lr=self.model.lr)
        self.n_batches = self.model.n_batches(data)
        self.epoch = 0
        self.pending = iter(())

    def next_batch(self) -> dict:
        import torch

        for batch in self.pending:
            return {k: torch.as_tensor(v) for k, v in batch.items()}
        self.epoch += 1
        self.pending = iter(self.model.batches(self.data, np.random.default_rng([2023, self.epoch])))
        return self.next_batch()

    def train(self, n: int) -> float:
        """Seconds per batch over n batches (building a batch counts: it is part of an epoch)."""
        started = time.perf_counter()
        for _ in range(n):
            self.optimiser.zero_grad(set_to_none=True)
            self.net.loss(self.next_batch()).backward()
            self.optimiser.step()
        return (time.perf_counter() - started) / n


def main() -> None:
    from llmrec.recommenders.neural import NEURAL_MODELS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="movielens-1m")
    parser.add_argument("--models", default="all", help="comma-separated, or 'all'")
    parser.add_argument("--batches", type=int, default=6, help="batches per model per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    names = [m.name for m in NEURAL_MODELS] if args.models == "all" else args.models.split(",")
    data = prepared_sequences(args.dataset)
    contenders = [Contender(name, data) for name in names]
    for c in contenders:
        c.train(1)  # warm-up: first-call allocations and kernel choices
    seconds = {c.name: [] for c in contenders}
    for _ in range(args.rounds):
        for c in contenders:
            seconds[c.name].append(c.train(args.batches))
    print(f"{args.dataset}: {args.rounds} rounds x {args.batches} batches per model, round-robin")
    print(f"{'model':<12} {'ms/batch':>9} {'batches':>8} {'s/epoch':>8} {'x first':>8}")
    first = None
    for c in contenders:
        per_batch = statistics.median(seconds[c.name])
        epoch = per_batch * c.n_batches
        first = first or epoch
        print(f"{c.name:<12} {per_batch * 1000:>9.1f} {c.n_batches:>8} {epoch:>8.1f} {epoch / first:>8.2f}")


if __name__ == "__main__":
    main()
