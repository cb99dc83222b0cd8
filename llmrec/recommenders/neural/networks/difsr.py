"""DIF-SR (Xie, Zhou & Kim, "Decoupled Side Information Fusion for Sequential Recommendation", SIGIR 2022).

What is implemented, after the paper's method section and its reference code (AIM-SE/DIF-SR, RecBole SASRecD):
- Embedding module: the item embedding alone is the input of the attention stack (layer-normalised, dropout);
  item attributes and positions never enter it. Each item's attributes (the catalogue's categories, MovieLens
  genres) are embedded and mean-pooled into one attribute vector per position (the reference code sums:
  a mean keeps the scale equal for items with one genre and with five).
- Decoupled side information fusion attention, in every layer: the item stream, the positions and the
  attribute vectors each get their own query and key projections, giving an item attention matrix
  Q_ID K_ID^T, a position matrix Q_P K_P^T and an attribute matrix Q_f K_f^T (per head). A fusion function
  combines them: `sum`; `concat` (a linear layer over the concatenated score rows); `gate` (the reference's
  gating: a small MLP scores each matrix's row, a softmax over the matrices weighs them). The fused scores,
  divided by sqrt(head size), causally masked as in SASRec, softmaxed, weigh the item values only (V_ID),
  followed by the output projection, residual and layer norm, then a GELU point-wise feed-forward (post-norm,
  as in the reference's RecBole transformer). Attribute and position inputs are the same in every layer.
- Prediction layer: the next item's score is the dot product of the last position's output with the item
  embedding; loss: softmax cross-entropy over the catalogue at every position (the reference's CE).
- Auxiliary attribute predictor (AAP): a linear layer from each position's output to every attribute,
  trained with multi-label binary cross-entropy against the next item's attributes (mean over attributes),
  added to the item loss with weight `lambda_attr`.
Simplified: one attribute field, the `category` column (the method takes several fields, each with its own
matrix; the authors' Amazon Sports benchmark log in their repository selects `categories` alone); attribute
scores at padded or future keys are zeroed before `gate`/`concat` read them (the reference feeds raw scores of
padding to its fusion layer); padded keys are masked (the reference lets positions attend to padding).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from llmrec.errors import LLMRecError
from llmrec.recommenders.neural.networks.layers import PointWiseFeedForward, attention_mask


class AttributeEmbedding(nn.Module):
    """Each item's 0-padded attribute ids -> the mean of their embeddings (zero for an item with none)."""

    def __init__(self, attributes, width: int):
        super().__init__()
        self.register_buffer("ids", torch.as_tensor(attributes, dtype=torch.long), persistent=False)
        self.table = nn.Embedding(int(self.ids.max()) + 1, width, padding_idx=0)

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        ids = self.ids[sequence]  # (B, L, width of the id matrix)
        present = (ids > 0).unsqueeze(-1).float()
        return (self.table(ids) * present).sum(-2) / present.sum(-2).clamp(min=1)


class GateFusion(nn.Module):
    """The reference's gate: score each attention matrix's row with an MLP, softmax over the matrices."""

    def __init__(self, length: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(length, length), nn.ReLU(), nn.Linear(length, 1))

    def forward(self, matrices: torch.Tensor) -> torch.Tensor:  # (B, heads, L, matrices, L)
        weights = torch.softmax(self.score(matrices).squeeze(-1), dim=-1)
        return (matrices * weights.unsqueeze(-1)).sum(-2)


class ConcatFusion(nn.Module):
    """The reference's concat: one linear layer over the matrices' rows side by side."""

    def __init__(self, length: int, n_matrices: int):
        super().__init__()
        self.mix = nn.Linear(length * n_matrices, length)

    def forward(self, matrices: torch.Tensor) -> torch.Tensor:
        return self.mix(matrices.flatten(-2))


class SumFusion(nn.Module):
    def forward(self, matrices: torch.Tensor) -> torch.Tensor:
        return matrices.sum(-2)


FUSIONS = {"gate": lambda length, n: GateFusion(length), "concat": ConcatFusion, "sum": lambda length, n: SumFusion()}


class DecoupledAttention(nn.Module):
    """One DIF attention layer: separate item, position and attribute attention matrices, fused, applied to
    the item values only; then projection, dropout, residual and layer norm."""

    def __init__(self, hidden: int, attribute_hidden: int, heads: int, dropout: float, fusion: str, length: int,
                 n_fields: int):
        super().__init__()
        self.heads = heads
        self.item_query, self.item_key, self.item_value = (nn.Linear(hidden, hidden) for _ in range(3))
        self.position_query, self.position_key = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.attribute_queries = nn.ModuleList(nn.Linear(attribute_hidden, attribute_hidden) for _ in range(n_fields))
        self.attribute_keys = nn.ModuleList(nn.Linear(attribute_hidden, attribute_hidden) for _ in range(n_fields))
        self.fusion = FUSIONS[fusion](length, 2 + n_fields)
        self.scale = math.sqrt(hidden // heads)
        self.attention_dropout, self.out_dropout = nn.Dropout(dropout), nn.Dropout(dropout)
        self.out = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)

    def split(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, d) -> (B, heads, L, d / heads)
        return x.view(*x.shape[:2], self.heads, -1).transpose(1, 2)

    def scores(self, query: nn.Linear, key: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        return self.split(query(x)) @ self.split(key(x)).transpose(-1, -2)

    def forward(self, x, positions, attribute_vectors, blocked):
        matrices = [self.scores(self.item_query, self.item_key, x),
                    self.scores(self.position_query, self.position_key, positions).expand(x.shape[0], -1, -1, -1)]
        matrices += [self.scores(q, k, a) for q, k, a in zip(self.attribute_queries, self.attribute_keys,
                                                               attribute_vectors)]
        stacked = torch.stack(matrices, dim=-2).masked_fill(blocked[:, :, :, None, :], 0.0)
        fused = self.fusion(stacked).masked_fill(blocked, -math.inf) / self.scale
        weights = self.attention_dropout(torch.softmax(fused, dim=-1))
        context = (weights @ self.split(self.item_value(x))).transpose(1, 2).reshape(x.shape)
        return self.norm(x + self.out_dropout(self.out(context)))


class Network(nn.Module):
    def __init__(self, n_items, attributes, *, hidden, attribute_hidden, max_length, blocks, heads, dropout, fusion,
                 lambda_attr, **training):
        super().__init__()
        if hidden % heads or attribute_hidden % heads:
            raise LLMRecError(f"--model-args heads: dif-sr needs hidden ({hidden}) and attribute_hidden "
                              f"({attribute_hidden}) divisible by heads ({heads})")
        self.n_attributes = int(attributes.max())
        n_fields = 1 if self.n_attributes else 0  # a catalogue without categories: item and position only
        self.items = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.positions = nn.Embedding(max_length, hidden)
        self.attribute_embeddings = nn.ModuleList(AttributeEmbedding(attributes, attribute_hidden)
                                                  for _ in range(n_fields))
        self.input_norm, self.dropout = nn.LayerNorm(hidden, eps=1e-12), nn.Dropout(dropout)
        self.attentions = nn.ModuleList(DecoupledAttention(hidden, attribute_hidden, heads, dropout, fusion,
                                                           max_length, n_fields) for _ in range(blocks))
        self.forwards = nn.ModuleList(PointWiseFeedForward(hidden, dropout, F.gelu) for _ in range(blocks))
        self.forward_norms = nn.ModuleList(nn.LayerNorm(hidden, eps=1e-12) for _ in range(blocks))
        self.attribute_predictor = nn.Linear(hidden, self.n_attributes) if self.n_attributes else None
        self.lambda_attr, self.max_length = lambda_attr, max_length
        self.apply(_initialise)

    def encode(self, sequence: torch.Tensor) -> torch.Tensor:
        if sequence.shape[1] != self.max_length:  # gate and concat read score rows of exactly this length
            raise LLMRecError(f"dif-sr: sequences of {sequence.shape[1]} items, expected max_length "
                              f"{self.max_length}")
        keep = sequence > 0
        blocked = attention_mask(keep, 1, causal=True)[:, None]  # (B, 1, L, L), the same for every head
        positions = self.positions(torch.arange(sequence.shape[1], device=sequence.device))[None]
        attribute_vectors = [embed(sequence) for embed in self.attribute_embeddings]
        x = self.dropout(self.input_norm(self.items(sequence)))
        for attention, feed, norm in zip(self.attentions, self.forwards, self.forward_norms):
            x = attention(x, positions, attribute_vectors, blocked)
            x = norm(x + feed(x))
        return x * keep.unsqueeze(-1)

    def loss(self, batch):
        sequence = batch["sequence"]  # the next item of every position is the one after it
        hidden, target = self.encode(sequence[:, :-1]), sequence[:, 1:]
        at = target > 0
        h, t = hidden[at], target[at]
        loss = F.cross_entropy(h @ self.items.weight[1:].T, t - 1)  # item 0 is padding, never a target
        if self.attribute_predictor is None or self.lambda_attr == 0:
            return loss
        return loss + self.lambda_attr * self.attribute_loss(h, t)

    def attribute_loss(self, hidden: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Multi-label BCE of the next item's attributes, averaged over the attributes (as the reference)."""
        ids = self.attribute_embeddings[0].ids[target]
        labels = torch.zeros(len(target), self.n_attributes + 1, device=target.device)
        labels.scatter_(1, ids, 1.0)
        return F.binary_cross_entropy_with_logits(self.attribute_predictor(hidden), labels[:, 1:])

    def score(self, histories):
        return self.encode(histories)[:, -1] @ self.items.weight.T


def _initialise(module: nn.Module) -> None:
    """The reference's initialisation: N(0, 0.02) weights, zero biases, the padding embedding zero."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
        with torch.no_grad():
            module.weight[module.padding_idx].zero_()
