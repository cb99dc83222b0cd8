"""GRU4Rec (Hidasi et al., "Session-based Recommendations with Recurrent Neural Networks", ICLR 2016), in the
form the sequential-recommendation comparisons use it (e.g. RecBole's GRU4Rec).

Each item of the history is embedded (section 3.1: the paper's input is the item's 1-of-N encoding, here
through a learned embedding) with dropout, run through `layers` GRU layers (section 3), projected back to the
embedding size, and the next item scored as the dot product with the same item embedding (the paper has a
separate output layer; the comparison implementations tie it to the input).
Simplification, as in the comparison papers: the original trains session-parallel mini-batches (section 3.1.1)
with the TOP1 or BPR ranking loss over sampled items (sections 3.1.2, 3.1.3); here every position of each
user's sequence is trained in one pass with softmax cross-entropy over the whole catalogue.

Left padding is neutral: the GRU has no bias (as in RecBole) and the padding embedding is zero, so the state
stays exactly zero until the first real item (z = r = 1/2 and the candidate state tanh(0) = 0).
"""

from __future__ import annotations

import torch
from torch import nn

from llmrec.recommenders.neural.networks.layers import next_item_loss


class Network(nn.Module):
    def __init__(self, n_items, attributes, *, hidden, layers, dropout, **training):
        super().__init__()
        self.items = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.gru = nn.GRU(hidden, hidden, layers, bias=False, batch_first=True)
        self.project = nn.Linear(hidden, hidden)
        nn.init.xavier_normal_(self.items.weight)  # small weights: torch's N(0, 1) saturates the softmax
        for weight in self.gru.parameters():
            nn.init.xavier_uniform_(weight)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def encode(self, sequence: torch.Tensor) -> torch.Tensor:
        states, _ = self.gru(self.dropout(self.items(sequence)))
        return self.project(states)

    def loss(self, batch):
        sequence = batch["sequence"]  # the next item of every position is the one after it
        return next_item_loss(self.encode(sequence[:, :-1]), sequence[:, 1:], self.items, "ce")

    def score(self, histories):
        return self.encode(histories)[:, -1] @ self.items.weight.T
