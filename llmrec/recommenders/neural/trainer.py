"""The one training loop every neural recommender shares: epochs, valid NDCG@10, early stopping, checkpoints.

A network only says how it learns and scores: `net.loss(batch) -> scalar tensor` and
`net.score(histories) -> (B, n_items + 1) scores for the next item`. The trainer owns the rest:
- Adam, one pass over the batches per epoch, then valid NDCG@10 over the full catalogue minus each user's
  training items (the valid item predicted from the training history; test is never read);
- early stopping after `patience` epochs without a better valid NDCG@10, keeping the best epoch's weights;
- a checkpoint after every epoch (weights, optimiser, best so far), so a crashed training resumes where it
  stopped; every epoch draws its randomness from (seed, epoch), so the resumed result equals the
  uninterrupted one on CPU;
- a progress bar with epoch, loss, valid metric and the time left (for all epochs: early stopping ends sooner).
The report records the CPU threads: training is identical at one thread count, another count trains slightly
other weights (summation order), and the count is not part of the content key.
"""

from __future__ import annotations

import ctypes
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from llmrec.console import log, progress
from llmrec.recommenders.neural.data import Sequences, left_padded

VALID_K = 10
VALID_BATCH = 256
CHECKPOINT, FINAL = "checkpoint.pt", "model.pt"


@dataclass
class Schedule:
    epochs: int
    patience: int
    lr: float
    weight_decay: float
    seed: int


def torch_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def valid_ndcg(net, data: Sequences, max_length: int, device: str) -> float:
    """Mean NDCG@10 of the valid item over the catalogue minus the user's training items (ties count against)."""
    import torch

    rows = np.flatnonzero(data.valid > 0)
    total = 0.0
    net.eval()
    with torch.no_grad():
        for start in range(0, len(rows), VALID_BATCH):
            chunk = rows[start:start + VALID_BATCH]
            histories = torch.as_tensor(left_padded([data.train[r] for r in chunk], max_length), device=device)
            scores = net.score(histories).float()
            scores[:, 0] = -math.inf
            seen = [data.train[r] for r in chunk]  # the user's training items are not candidates
            at_row = np.repeat(np.arange(len(chunk)), [len(x) for x in seen])
            scores[torch.as_tensor(at_row, device=device), torch.as_tensor(np.concatenate(seen), device=device)] \
                = -math.inf
            target = torch.as_tensor(data.valid[chunk], device=device)
            own = scores.gather(1, target[:, None])
            rank = (scores >= own).sum(1) - 1  # items scoring at least the target's, itself excluded
            gain = torch.where(rank < VALID_K, 1 / torch.log2(rank.double() + 2), torch.zeros_like(rank.double()))
            total += float(gain.sum())
    return total / max(len(rows), 1)


def release_freed_memory() -> None:
    """Hand the heap pages freed by an epoch's tensors back to the system. glibc keeps them otherwise, and the
    resident size of a long CPU training keeps growing (bert4rec on MovieLens-100k, 12 epochs: peak RSS
    2.55 GiB without, 1.73 GiB with a trim after each epoch)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


class Trainer:
    """Trains `net` in `folder` (checkpoints there) and returns the best weights with what training did."""

    def __init__(self, label: str, schedule: Schedule, device: str, folder: Path):
        self.label, self.schedule, self.device, self.folder = label, schedule, device, folder
        self.after_epoch: Callable[[int], None] = lambda epoch: None  # a hook (tests interrupt here)

    def fit(self, net, batches: Callable[[np.random.Generator], Iterable[dict]], n_batches: int,
            validate: Callable[[object], float]) -> tuple[dict, dict]:
        import torch

        s = self.schedule
        net.to(self.device)
        optimiser = torch.optim.Adam(net.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        state = {"epoch": 0, "best": -1.0, "best_epoch": 0, "best_weights": None, "history": [], "seconds": 0.0}
        saved = self.folder / CHECKPOINT
        if saved.is_file():
            checkpoint = torch.load(saved, map_location=self.device, weights_only=False)
            net.load_state_dict(checkpoint["weights"])
            optimiser.load_state_dict(checkpoint["optimiser"])
            state = checkpoint["state"]
            log(f"{self.label}: resuming after epoch {state['epoch']} ({saved})")
        with progress(self.label, s.epochs * n_batches) as advance:
            advance((state["epoch"]) * n_batches, self._describe(state, None))
            while state["epoch"] < s.epochs and state["epoch"] - state["best_epoch"] < s.patience:
                started = time.perf_counter()
                epoch = state["epoch"] + 1
                torch.manual_seed(epoch_seed(s.seed, epoch))
                rng = np.random.default_rng([s.seed, epoch])
                net.train()
                losses = []
                for batch in batches(rng):
                    optimiser.zero_grad(set_to_none=True)
                    loss = net.loss({k: torch.as_tensor(v, device=self.device) for k, v in batch.items()})
                    loss.backward()
                    optimiser.step()
                    losses.append(float(loss.detach()))
                    advance(1, self._describe(state, losses))
                score = validate(net)
                state["epoch"] = epoch
                state["history"].append({"epoch": epoch, "loss": round(float(np.mean(losses)), 6),
                                         "valid_ndcg@10": round(score, 6)})
                if score > state["best"]:
                    state.update(best=score, best_epoch=epoch,
                                 best_weights={k: v.detach().cpu().clone() for k, v in net.state_dict().items()})
                state["seconds"] += time.perf_counter() - started
                self._save_checkpoint(net, optimiser, state)
                release_freed_memory()  # once an epoch: a call walks the whole heap (~0.1 s)
                advance(0, self._describe(state, None))
                self.after_epoch(epoch)
        report = {"epochs": state["epoch"], "best_epoch": state["best_epoch"],
                  "valid_ndcg@10": round(state["best"], 6), "train_seconds": round(state["seconds"], 1),
                  "stopped_early": state["epoch"] < s.epochs, "device": self.device,
                  "history": state["history"]}
        if self.device == "cpu":
            report["threads"] = torch.get_num_threads()
        return state["best_weights"], report

    def _describe(self, state: dict, losses: list[float] | None) -> str:
        text = f"{self.label} epoch {state['epoch'] + (1 if losses is not None else 0)}/{self.schedule.epochs}"
        if losses:
            text += f" loss {np.mean(losses):.4f}"
        if state["epoch"]:
            text += f" valid NDCG@10 {state['history'][-1]['valid_ndcg@10']:.4f} (best {state['best']:.4f})"
        return text

    def _save_checkpoint(self, net, optimiser, state: dict) -> None:
        import torch

        from llmrec.files import atomic_open

        with atomic_open(self.folder / CHECKPOINT, binary=True) as handle:
            torch.save({"weights": net.state_dict(), "optimiser": optimiser.state_dict(), "state": state}, handle)
