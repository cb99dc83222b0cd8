"""SASRec (Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018).

Items and learned positions embedded (section III-A), causal self-attention blocks (III-B, III-C), the next
item's score as the dot product of the last position's output with the shared item embedding (III-D). Loss
`ce` (default): softmax over the catalogue at every position, which Klenitskiy & Vasilev (RecSys 2023) show
reaches far higher full-ranking accuracy; `bce`: the paper's loss, one sampled negative per position.
"""

from __future__ import annotations

import torch
from torch import nn

from llmrec.recommenders.neural.networks.layers import CausalBlocks, Embedding, next_item_loss


class Network(nn.Module):
    def __init__(self, n_items, attributes, *, hidden, max_length, blocks, heads, dropout, loss, **training):
        super().__init__()
        self.embed = Embedding(n_items + 1, hidden, max_length, dropout)
        self.blocks = CausalBlocks(hidden, blocks, heads, dropout)
        self.loss_name = loss

    def encode(self, sequence: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.embed(sequence), (sequence > 0).unsqueeze(-1))

    def loss(self, batch):
        sequence = batch["sequence"]  # the next item of every position is the one after it
        return next_item_loss(self.encode(sequence[:, :-1]), sequence[:, 1:], self.embed.items, self.loss_name)

    def score(self, histories):
        return self.encode(histories)[:, -1] @ self.embed.items.weight.T
