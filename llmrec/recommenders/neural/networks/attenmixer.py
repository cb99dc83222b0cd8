"""Atten-Mixer (Zhang et al., "Efficiently Leveraging Multi-level User Intent for Session-based Recommendation
via Atten-Mixer Network", WSDM 2023, arXiv 2206.12781), the GNN-free model: item embeddings straight into the
multi-level attention readout, no graph propagation.

What is implemented, in the paper's terms:
- Embedding layer: L2-normalised item embeddings (the NISER normalisation the paper adopts), dropout.
- Multi-level user intent (concept-view and instance-view readout): the level-l query is a deep-sets
  function of the last l items, a sum (order inside the group does not matter: local invariance) followed by a
  level-specific linear map. Only the groups "the last l items", l = 1..levels, are concepts (inherent
  priority: the latest items matter most), instead of every subset of the session. Level 1 is the
  instance view (the last item), levels 2.. the concept view. A level needing more items than the history has
  is left out, so padding never enters a concept.
- Multi-head level-L attention: every level's query attends, per head, over the session's items
  (softmax over the items of 2 * sigmoid(<query, key>), as in the authors' code); the attention maps of all
  levels are mixed per head and item by L_p pooling, (sum_l a_l ** p) ** (1/p), renormalised by the same
  softmax; the session representation is the heads' attention-weighted values, layer-normalised, then a
  linear map of [representation; last item] (the SR-GNN style hybrid of global and local interest).
- Prediction: the cosine of the L2-normalised session representation and item embedding times `scale`
  (16, the authors' code), cross-entropy over the whole catalogue.

Sessions: the interface gives each user's chronological training sequence; a "session" is the last
`max_length` (L, default 50) items before the target. Training is causal and trains every position of the
window in one pass: the readout at position t sees only the items up to t (the attention is masked to them,
the concept levels are the last l items up to t), so each prefix of the window is one session whose target is
the next item. There are no position embeddings, so the readout of a history does not depend on its padding:
`score` of a history equals the training readout at its last position.

Simplified: no GNN or SGNN-HN item encoder in front (the paper's own headline model removes it too); no
step learning-rate decay (the shared trainer keeps Adam's rate and stops early on valid NDCG@10); no dropout
on the candidate item embeddings; concepts are summed (deep sets) where the authors' code concatenates the
last l items before the linear map, and heads are split cleanly per hidden slice.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from llmrec.errors import LLMRecError


class Network(nn.Module):
    def __init__(self, n_items, attributes, *, hidden, levels, heads, p, scale, dropout, **training):
        super().__init__()
        if heads < 1 or hidden % heads:
            raise LLMRecError(f"--model-args heads: atten-mixer needs heads dividing hidden ({hidden}), got {heads}")
        if levels < 1 or p <= 0:
            raise LLMRecError(f"--model-args levels, p: atten-mixer needs levels >= 1 and p > 0, got {levels}, {p}")
        self.items = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.concepts = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(levels))  # deep sets' rho, per level
        self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))
        self.readout_norm = nn.LayerNorm(hidden, eps=1e-8)
        self.mix = nn.Linear(2 * hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.levels, self.heads, self.p, self.scale = levels, heads, float(p), scale
        bound = 1 / math.sqrt(hidden)
        nn.init.uniform_(self.items.weight, -bound, bound)
        with torch.no_grad():
            self.items.weight[0].zero_()

    # -- the readout, causal over positions
    def embed(self, sequence: torch.Tensor) -> torch.Tensor:
        """Normalised item embeddings (B, T, d), dropout, padding exactly zero."""
        e = F.normalize(self.items(sequence), dim=-1)
        return self.dropout(e) * (sequence > 0).unsqueeze(-1)

    def concept_sums(self, e: torch.Tensor) -> torch.Tensor:
        """(B, T, levels, d): at position t, level l (index l - 1) is the sum of the items at t - l + 1 .. t."""
        padded = F.pad(e, (0, 0, self.levels - 1, 0))  # zeros before the first position
        windows = padded.unfold(1, self.levels, 1)  # (B, T, d, levels), oldest first
        return windows.flip(-1).cumsum(-1).transpose(-1, -2)  # newest first, summed: the last 1, 2, ... items

    def level_valid(self, sequence: torch.Tensor) -> torch.Tensor:
        """(B, T, levels): level l exists at t when at least l items are at or before t (histories are
        left-padded, so that count is the running count of items)."""
        seen = (sequence > 0).long().cumsum(1)
        wanted = torch.arange(1, self.levels + 1, device=sequence.device)
        return seen.unsqueeze(-1) >= wanted

    def readout(self, sequence: torch.Tensor) -> torch.Tensor:
        """The session representation (B, T, d) at every position, from the items up to it only."""
        b, t = sequence.shape
        e = self.embed(sequence)
        sums = self.concept_sums(e)
        queries = torch.stack([F.normalize(level(sums[:, :, i]), dim=-1) for i, level in enumerate(self.concepts)],
                              2)  # (B, T, levels, d)
        split = lambda x: x.view(*x.shape[:-1], self.heads, -1)  # noqa: E731 - the heads' slices of the last dim
        q, k, v = split(self.query(queries)), split(self.key(e)), split(self.value(e))
        allowed = self.attendable(sequence)  # (B, T, T): query position, item position
        logits = 2 * torch.sigmoid(torch.einsum("btlhc,bjhc->blhtj", q, k))
        per_level = torch.softmax(logits.masked_fill(~allowed[:, None, None], -math.inf), -1)
        valid = self.level_valid(sequence).permute(0, 2, 1)[:, :, None, :, None]  # (B, levels, 1, T, 1)
        pooled = (per_level.pow(self.p) * valid).sum(1).clamp_min(1e-12).pow(1 / self.p)  # (B, H, T, T)
        weights = self.dropout(torch.softmax((2 * pooled).masked_fill(~allowed[:, None], -math.inf), -1))
        session = self.readout_norm(torch.einsum("bhtj,bjhc->bthc", weights, v).reshape(b, t, -1))
        return self.mix(torch.cat([session, e], -1))

    @staticmethod
    def attendable(sequence: torch.Tensor) -> torch.Tensor:
        """(B, T, T): position t may attend to the items at or before t. A padding position sees itself only,
        so no row is all masked (its output is never used)."""
        t = sequence.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=sequence.device).tril()
        diagonal = torch.eye(t, dtype=torch.bool, device=sequence.device)
        return (causal & (sequence > 0)[:, None, :]) | diagonal

    def logits(self, representation: torch.Tensor) -> torch.Tensor:
        """Scaled cosine of each representation with every item (item 0, padding, included)."""
        return self.scale * F.normalize(representation, dim=-1) @ F.normalize(self.items.weight, dim=-1).T

    # -- the trainer's interface
    def loss(self, batch):
        sequence = batch["sequence"]
        history, target = sequence[:, :-1], sequence[:, 1:]
        at = (target > 0) & (history > 0)  # a position with a session before it and an item after it
        scores = self.logits(self.readout(history)[at])[:, 1:]  # item 0 is padding, never a target
        return F.cross_entropy(scores, target[at] - 1)

    def score(self, histories):
        return self.logits(self.readout(histories)[:, -1])
