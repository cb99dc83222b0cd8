"""REMI (Xie et al., "Rethinking Multi-Interest Learning for Candidate Matching in Recommender Systems",
RecSys 2023, arXiv 2302.14532) on the ComiRec-SA backbone of networks/comirec.py.

The backbone is unchanged (self-attentive routing A, interests V = A H, hard readout of the interest v most
aligned with the target, scoring by the max over interests); REMI changes the training objective:

- Interest-aware Hard Negative mining (IHN). The ideal negative distribution puts more mass on items close to
  the selected interest, q_beta(j) ∝ exp(beta v.e_j), and the loss is
      L_IHN = -log( exp(v.e_t) / (exp(v.e_t) + M E_{j~q_beta}[exp(v.e_j)]) ).
  Its Monte-Carlo approximation draws M negatives j_1..j_M uniformly and re-weights them by their closeness to
  v: E_{q_beta}[exp(v.e_j)] ≈ sum_m w_m exp(v.e_{j_m}) with w = softmax_m(beta v.e_{j_m}). beta = 0 is the
  plain (uniformly) sampled softmax; larger beta stresses harder negatives.
- Routing Regularization (RR) against routing collapse (an interest routed from a single item): with C =
  (1/d) (A - mean(A)) (A - mean(A))^T over each routing row, L_RR = sum over the batch of ||diag(C)||^2, the
  squared variances of the routing rows (0 for uniform routing, largest when each row is one-hot).
- L = L_IHN + lambda L_RR.

Hyperparameters (Tokkiu/REMI): `negatives` M = 1280 uniform negatives shared by the batch (its default; all
items when the catalogue is smaller), `beta` = 1 and `rr_lambda` = 100 (its README's commands that reproduce
the paper: beta 10 / 1 / 0.1 on Books / Gowalla / RetailRocket, lambda 100 on all three; the code's own
defaults, 0, turn both off), K = `interests` = 4, a window of 50 items.

Simplifications and choices, beyond ComiRec-SA's (full one-pass training of every position, see comirec.py):
- negatives are drawn without replacement and the target is masked out of them (no accidental hits); M in
  the loss is the number of negatives left;
- RR is computed for every trained prefix, over that prefix's items only (the reference code takes the mean
  and variance over the whole padded window, so it penalises uniform routing of a short history); per
  sequence it is the mean over its trained prefixes, summed over the batch as in the reference code (whose
  lambda assumes that scale).
"""

from __future__ import annotations

import math

import torch

from llmrec.recommenders.neural.networks import comirec


def hard_negative_log_weights(scores: torch.Tensor, beta: float) -> torch.Tensor:
    """IHN's importance weights (as logs) of uniformly drawn negatives, scores (N, M): softmax(beta * score) per
    row, which turns the uniform draw into one from q_beta ∝ exp(beta v.e_j). A masked negative (-inf) weighs 0;
    beta = 0 weighs the others alike."""
    return torch.log_softmax((beta * scores).masked_fill(scores.isneginf(), -math.inf), dim=-1)


def ihn_loss(positive: torch.Tensor, negatives: torch.Tensor, beta: float) -> torch.Tensor:
    """Mean L_IHN of positive scores (N,) against their negatives' scores (N, M; -inf: not a negative):
    -log(e^s+ / (e^s+ + M sum_m w_m e^s_m)), in log space."""
    count = negatives.isfinite().sum(-1).clamp(min=1).to(negatives.dtype)
    log_weights = hard_negative_log_weights(negatives, beta)
    log_negative_mass = torch.log(count) + torch.logsumexp(negatives + log_weights, dim=-1)
    return (torch.logaddexp(positive, log_negative_mass) - positive).mean()


def routing_variance(squares: torch.Tensor, count: torch.Tensor, hidden: int) -> torch.Tensor:
    """diag(C) of RR for routing rows over `count` items whose squared weights sum to `squares` (..., K):
    sum_j (A_kj - 1/n)^2 / d = (sum_j A_kj^2 - 1/n) / d, since each row sums to 1."""
    return (squares - 1 / count.clamp(min=1).unsqueeze(-1).to(squares.dtype)) / hidden


def routing_regulariser(squares: torch.Tensor, count: torch.Tensor, at: torch.Tensor, hidden: int) -> torch.Tensor:
    """L_RR: ||diag(C)||^2 of each trained prefix (at: (B, L)), averaged over a sequence's prefixes, summed
    over the batch."""
    per_prefix = torch.where(at, (routing_variance(squares, count, hidden) ** 2).sum(-1), 0)
    return (per_prefix.sum(1) / at.sum(1).clamp(min=1)).sum()


class Network(comirec.Network):
    def __init__(self, n_items, attributes, *, hidden, max_length, interests, dropout, negatives, beta, rr_lambda,
                 **training):
        super().__init__(n_items, attributes, hidden=hidden, max_length=max_length, interests=interests,
                         dropout=dropout)
        self.n_items, self.hidden, self.negatives = n_items, hidden, negatives
        self.beta, self.rr_lambda = beta, rr_lambda

    def loss(self, batch):
        target, chosen, routing, at = self.chosen(batch)
        items = self.encoder.items
        drawn = torch.randperm(self.n_items, device=target.device)[:self.negatives] + 1  # shared by the batch
        negative = (chosen @ items(drawn).T).masked_fill(drawn.unsqueeze(0) == target.unsqueeze(1), -math.inf)
        positive = (chosen * items(target)).sum(-1)
        regulariser = routing_regulariser(routing["squares"], routing["count"], at, self.hidden)
        return ihn_loss(positive, negative, self.beta) + self.rr_lambda * regulariser.to(positive.dtype)
