"""ComiRec-SA (Cen et al., "Controllable Multi-Interest Framework for Recommendation", KDD 2020).

Multi-interest extraction by self-attention (section 3.2, "Self-Attentive Method"): the history's item
embeddings H (n x d) plus learned positions give routing logits W2 tanh(W1 (H + P)^T) (W1: d_a x d with
d_a = 4d, W2: K x d_a, no biases, as in the reference code), a softmax over the history gives the routing
matrix A (K x n), and the K interests are V = A H (the positions shape the attention only). Training
(section 3.4, eq. 8-9): the interest most aligned with the target is read out (hard readout,
argmax_k V_k . e_target, no gradient through the choice) and scored against the catalogue. Inference
(section 3.5, the aggregation module without the diversity term): an item's score is the max over the K
interests of V_k . e_item.

Simplifications and choices:
- Loss: softmax cross-entropy over the whole catalogue (the paper uses a sampled softmax with 10 x batch
  uniform negatives); the full softmax is cheap at MovieLens sizes and has no sampling bias.
- Targets: every position of the training window is a target in one pass (a causal prefix readout): the
  interests after prefix t are V_t = sum_{j<=t} exp(a_kj) h_j / sum_{j<=t} exp(a_kj), computed for all t at
  once with cumulative sums (in float64, so no prefix underflows), not the paper's one random cut per user
  per step. Positions count from the first item of the window (as the reference code's left-aligned
  histories), so a prefix and a history of the same length see the same positions. A target needs at least
  one item before it, so a window's first item is never a target.
- `dropout` (default 0: the paper has none) applies to the history's item embeddings; the window is the
  reference code's Taobao setting, 50 items.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

TINY = 1e-150  # a float64 floor for empty prefixes (their interests are 0, never read); its square is > 0


class SelfAttentiveInterests(nn.Module):
    """K interest vectors of a left-padded history by self-attentive routing (ComiRec-SA, section 3.2)."""

    def __init__(self, n_items: int, hidden: int, max_length: int, interests: int, dropout: float):
        super().__init__()
        self.items = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.positions = nn.Embedding(max_length, hidden)
        self.first = nn.Linear(hidden, 4 * hidden, bias=False)  # W1
        self.second = nn.Linear(4 * hidden, interests, bias=False)  # W2
        self.dropout = nn.Dropout(dropout)
        for table in (self.items, self.positions):
            nn.init.xavier_normal_(table.weight)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def routing(self, sequence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(H (B, L, d), routing logits (B, L, K), kept (B, L)): positions count from the window's first item."""
        kept = sequence > 0
        positions = (kept.long().cumsum(1) - 1).clamp(min=0)
        h = self.dropout(self.items(sequence)) * kept.unsqueeze(-1)
        logits = self.second(torch.tanh(self.first(h + self.positions(positions))))
        return h, logits, kept

    def forward(self, histories: torch.Tensor) -> torch.Tensor:
        """The interests after the whole history: (B, K, d)."""
        h, logits, kept = self.routing(histories)
        routing = logits.masked_fill(~kept.unsqueeze(-1), float("-inf")).transpose(1, 2).softmax(-1)
        return torch.nan_to_num(routing) @ h  # an empty history routes nothing

    def prefixes(self, sequence: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The interests after every prefix, (B, L, K, d), in one pass, and each prefix's routing statistics:
        `count` (B, L) items so far and `squares` (B, L, K) = sum_j A_t[k, j]^2 of its routing rows."""
        h, logits, kept = self.routing(sequence)
        peak = logits.detach().amax(1, keepdim=True)  # shifts every logit below 0: exp never overflows
        weight = torch.exp((logits - peak).double()) * kept.unsqueeze(-1)  # (B, L, K), 0 at padding
        total = weight.cumsum(1).clamp(min=TINY)
        interests = (weight.unsqueeze(-1) * h.double().unsqueeze(2)).cumsum(1) / total.unsqueeze(-1)
        squares = (weight ** 2).cumsum(1) / total ** 2
        return interests.to(h.dtype), {"count": kept.long().cumsum(1), "squares": squares}


def aligned_interest(interests: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Hard readout (ComiRec eq. 8): of each row's K interests (N, K, d), the one with the largest dot product
    with its target's embedding (N, d); the choice carries no gradient."""
    choice = (interests.detach() @ target.detach().unsqueeze(-1)).squeeze(-1).argmax(-1)
    return interests[torch.arange(len(choice), device=choice.device), choice]


def max_over_interests(interests: torch.Tensor, items: nn.Embedding) -> torch.Tensor:
    """Each item's score: its best dot product with any of the K interests, (B, K, d) -> (B, n_items + 1)."""
    return (interests @ items.weight.T).amax(1)


def trained_positions(sequence: torch.Tensor):
    """Input window, targets, and which positions train: an item seen so far and a next item to predict."""
    inputs, targets = sequence[:, :-1], sequence[:, 1:]
    return inputs, targets, (inputs > 0) & (targets > 0)


class Network(nn.Module):
    def __init__(self, n_items, attributes, *, hidden, max_length, interests, dropout, **training):
        super().__init__()
        self.encoder = SelfAttentiveInterests(n_items, hidden, max_length, interests, dropout)

    def chosen(self, batch):
        """At every trained position: the target, the interest closest to it, the routing and where they are."""
        inputs, targets, at = trained_positions(batch["sequence"])
        interests, routing = self.encoder.prefixes(inputs)
        target = targets[at]
        return target, aligned_interest(interests[at], self.encoder.items(target)), routing, at

    def loss(self, batch):
        target, chosen, _, _ = self.chosen(batch)
        # item 0 is padding, never a target
        return F.cross_entropy(chosen @ self.encoder.items.weight[1:].T, target - 1)

    def score(self, histories):
        return max_over_interests(self.encoder(histories), self.encoder.items)
