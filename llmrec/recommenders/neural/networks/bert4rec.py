"""BERT4Rec (Sun et al., "BERT4Rec: Sequential Recommendation with Bidirectional Encoder Representations from
Transformer", CIKM 2019, arXiv 1904.06690).

- Embedding layer (section 3.4): item embedding plus a learned position embedding, then layer norm and dropout
  as in BERT. Items are 1..n_items, 0 is padding and n_items + 1 the [MASK] token.
- Transformer layer (3.3): bidirectional multi-head self-attention (padding keys masked) and a position-wise
  feed-forward of 4 x hidden with GELU, each followed by dropout, a residual connection and layer norm.
- Output layer (3.5): P(v) = softmax(GELU(h W^P + b^P) E^T + b^O), E the shared item embedding.
- Cloze training (3.6): in the last max_length training items of a user, each non-padding position is
  replaced by [MASK] with probability mask_prob (always [MASK], as the authors' run scripts set, not BERT's
  80/10/10), at least one per sequence; cross-entropy over the catalogue at the masked positions only.
- Prediction (3.6): [MASK] appended after the last max_length - 1 history items; its output scores the next item.

Simplifications: the paper's extra training samples that mask only the last item, its dupe factor (10 maskings
of each sequence per pass: here a fresh masking every epoch instead) and its learning-rate warm-up and decay are
left out; training runs through the shared trainer (Adam, early stopping on valid NDCG@10).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

INIT_STD = 0.02  # BERT's initializer_range


class Network(nn.Module):
    def __init__(self, n_items, attributes, *, hidden, max_length, layers, heads, dropout, mask_prob, **training):
        super().__init__()
        self.n_items, self.mask_token, self.mask_prob = n_items, n_items + 1, mask_prob
        self.items = nn.Embedding(n_items + 2, hidden, padding_idx=0)
        self.positions = nn.Embedding(max_length, hidden)
        self.embedding_norm = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(hidden, heads, 4 * hidden, dropout, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.transform = nn.Linear(hidden, hidden)  # W^P, b^P of the output layer
        self.output_bias = nn.Parameter(torch.zeros(n_items + 1))  # b^O (item 0 is padding)
        for table in (self.items, self.positions):
            nn.init.trunc_normal_(table.weight, std=INIT_STD, a=-2 * INIT_STD, b=2 * INIT_STD)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)  # histories are right-aligned
        x = self.dropout(self.embedding_norm(self.items(tokens) + self.positions(positions)))
        return self.encoder(x, src_key_padding_mask=tokens == 0)

    def item_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The output layer before the softmax: scores of items 0..n_items (0 is padding, never a target)."""
        return F.gelu(self.transform(hidden)) @ self.items.weight[: self.n_items + 1].T + self.output_bias

    def loss(self, batch):
        sequence = batch["sequence"][:, 1:]  # the last max_length training items
        inputs, targets = cloze(sequence, self.mask_prob, self.mask_token)
        masked = targets > 0
        logits = self.item_logits(self.encode(inputs)[masked])[:, 1:]
        return F.cross_entropy(logits, targets[masked] - 1)

    def score(self, histories):
        return self.item_logits(self.encode(with_mask_last(histories, self.mask_token))[:, -1])


def cloze(sequence: torch.Tensor, mask_prob: float, mask_token: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The Cloze task of a left-padded batch: (inputs with [MASK] at the chosen positions, targets: the original
    item there and 0 elsewhere). Each non-padding position is chosen with probability mask_prob; a sequence
    left with none gets one of its items chosen uniformly, so every sequence has a target."""
    real = sequence > 0
    chosen = (torch.rand(sequence.shape, device=sequence.device) < mask_prob) & real
    noise = torch.rand(sequence.shape, device=sequence.device).masked_fill(~real, -1.0)
    fallback = F.one_hot(noise.argmax(1), sequence.shape[1]).bool() & real
    chosen = chosen | (fallback & ~chosen.any(1, keepdim=True))
    return sequence.masked_fill(chosen, mask_token), sequence * chosen


def with_mask_last(histories: torch.Tensor, mask_token: int) -> torch.Tensor:
    """The last max_length - 1 items of each left-padded history, shifted left, and [MASK] in the last place."""
    return torch.cat([histories[:, 1:], histories.new_full((histories.shape[0], 1), mask_token)], 1)
