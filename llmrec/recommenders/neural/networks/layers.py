"""Building blocks the sequential networks share: item and position embeddings, the causal
self-attention stack of SASRec, and the two losses over next items (full softmax, or one sampled negative)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Embedding(nn.Module):
    """Item embedding scaled by sqrt(d), plus a learned position (counted from the sequence's end: histories
    are left-padded), dropout, and padding positions zeroed."""

    def __init__(self, n_tokens: int, hidden: int, max_length: int, dropout: float):
        super().__init__()
        self.items = nn.Embedding(n_tokens, hidden, padding_idx=0)
        self.positions = nn.Embedding(max_length, hidden)
        self.dropout = nn.Dropout(dropout)
        self.scale = hidden ** 0.5
        for table in (self.items, self.positions):  # small weights (torch's default N(0, 1) saturates softmax)
            nn.init.xavier_normal_(table.weight)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(sequence.shape[1], device=sequence.device)
        x = self.items(sequence) * self.scale + self.positions(positions)
        return self.dropout(x) * (sequence > 0).unsqueeze(-1)


class PointWiseFeedForward(nn.Module):
    def __init__(self, hidden: int, dropout: float, activation=F.relu, inner: int | None = None):
        super().__init__()
        self.first, self.second = nn.Linear(hidden, inner or hidden), nn.Linear(inner or hidden, hidden)
        self.dropout, self.activation = nn.Dropout(dropout), activation

    def forward(self, x):
        return self.dropout(self.second(self.dropout(self.activation(self.first(x)))))


class CausalBlocks(nn.Module):
    """SASRec's stack (Kang & McAuley 2018, section III-B/C): per block, attention with the queries
    layer-normalised and each position seeing itself and earlier ones, then a point-wise feed-forward; both
    residual; padding zeroed after each block; a final layer norm. Padded keys are masked (the reference
    code lets positions attend to them, which dilutes attention for short histories)."""

    def __init__(self, hidden: int, blocks: int, heads: int, dropout: float):
        super().__init__()
        self.attention_norms = nn.ModuleList(nn.LayerNorm(hidden, eps=1e-8) for _ in range(blocks))
        self.attentions = nn.ModuleList(nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
                                        for _ in range(blocks))
        self.forward_norms = nn.ModuleList(nn.LayerNorm(hidden, eps=1e-8) for _ in range(blocks))
        self.forwards = nn.ModuleList(PointWiseFeedForward(hidden, dropout) for _ in range(blocks))
        self.last_norm = nn.LayerNorm(hidden, eps=1e-8)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        hidden_mask = attention_mask(keep.squeeze(-1), self.attentions[0].num_heads, causal=True)
        for norm_a, attention, norm_f, feed in zip(self.attention_norms, self.attentions, self.forward_norms,
                                                   self.forwards):
            q = norm_a(x)
            x = q + attention(q, x, x, attn_mask=hidden_mask, need_weights=False)[0]
            x = norm_f(x)
            x = (x + feed(x)) * keep
        return self.last_norm(x)


def attention_mask(keep: torch.Tensor, heads: int, causal: bool) -> torch.Tensor:
    """The (B * heads, L, L) mask of keys a position may not attend to: padding, and later positions when
    `causal`. Each position may always see itself, so a padding row is not all masked (which gives NaN)."""
    length = keep.shape[1]
    blocked = ~keep[:, None, :].expand(-1, length, -1)
    if causal:
        blocked = blocked | torch.triu(torch.ones(length, length, dtype=torch.bool, device=keep.device), 1)
    blocked = blocked & ~torch.eye(length, dtype=torch.bool, device=keep.device)
    return blocked.repeat_interleave(heads, dim=0)


def next_item_loss(hidden: torch.Tensor, target: torch.Tensor, items: nn.Embedding, loss: str) -> torch.Tensor:
    """Loss of predicting `target` (0: no target) from `hidden` at every position, in one pass.

    ce: softmax cross-entropy over the whole catalogue (Klenitskiy & Vasilev 2023). bce: the original
    SASRec loss, the target against one uniformly sampled item (the target itself excluded) per position.
    """
    at = target > 0
    h, t = hidden[at], target[at]
    if loss == "ce":
        logits = h @ items.weight[1:].T  # item 0 is padding, never a target
        return F.cross_entropy(logits, t - 1)
    n_items = items.weight.shape[0] - 1
    negative = torch.randint(1, n_items, t.shape, device=t.device)
    negative = negative + (negative >= t).long()  # uniform over the items other than the target
    positive_logit = (h * items(t)).sum(-1)
    negative_logit = (h * items(negative)).sum(-1)
    return (F.binary_cross_entropy_with_logits(positive_logit, torch.ones_like(positive_logit))
            + F.binary_cross_entropy_with_logits(negative_logit, torch.zeros_like(negative_logit)))
