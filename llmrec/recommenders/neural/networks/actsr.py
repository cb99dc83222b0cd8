"""AC-TSR on SASRec (Zhou et al., "Attention Calibration for Transformer-based Sequential Recommendation",
CIKM 2023, arXiv 2308.09419; reference code AIM-SE/AC-TSR, `AttackRMultiHeadAttention`).

SASRec's embedding, causal pre-norm blocks and item-dot-product scoring (see sasrec.py), with each block's
attention replaced by a calibrated one. Per head, with Q, K, V the projections and i the query, j the key:

Spatial calibrator (the paper's section "Spatial Calibrator"): two affine heads on the pair [q_i; k_j]
predict the pair's order (a probability p_ij = sigmoid(w_o [q_i; k_j] + b_o)) and its log distance
(d^_ij = w_d [q_i; k_j] + b_d). Their log-likelihoods of the true relation are added to the attention logits:
    order:    e^o_ij = o_ij log p_ij + (1 - o_ij) log(1 - p_ij),   o_ij = 1 when j comes after i;
    distance: e^d_ij = -(omega^2 / 2) (log(|i - j| + 1) - d^_ij)^2,   omega learned;
    S = (q_i k_j + e^o_ij + e^d_ij) / sqrt(d_head), and A = softmax(S) over the visible keys.
An affine map of a concatenation is a sum, w [q_i; k_j] = w_q q_i + w_k k_j, so both heads cost two (B, L)
projections and a broadcast, not the (B, L, L, 2 d_head) pair tensor the reference code builds. With the
causal mask every visible key is at or before its query, so o_ij = 0 on every attended pair and the order term
is log(1 - p_ij): a learned penalty on pairs the model takes to be in the wrong order (it is computed so; the
values at masked pairs are never read).

Adversarial calibrator (section "Adversarial Calibrator"): a perturbation mask
M_ij = sigmoid(q'_i k'_j / sqrt(d_head)) from its own query/key transforms of Q and K (the attacker). The
perturbed attention replaces the logits where M is low with Gaussian noise,
A~ = softmax(M * S + (1 - M) * eps), eps ~ N(0, 1); the attacker is trained to *raise* the next-item loss of
the network run with A~ while keeping M near 1 (loss -L(perturbed) + mask_weight * ||1 - M||, the norm as a
root mean square over the visible pairs), so it learns to perturb the pairs that contribute most to the
prediction. The calibrated attention boosts exactly those pairs, C = A * exp(1 - M) renormalised
(= softmax(S + 1 - M)), and the block uses A* = (1 - calibration) A + calibration C. The rest of the network
is trained on the next-item loss of A* only.

Training is one call: the calibrated pass (all positions at once, M detached) gives L(calibrated); a second
pass of the whole network with perturbed attention in every block, run with every parameter except the
attacker's detached (torch.func.functional_call), gives the attacker's loss. The scalar returned has the
gradient of their sum, so each player's gradient is its own objective's, and the value of L(calibrated).
Scoring uses the calibrated pass alone, without noise.

Where this differs from the reference code, on purpose: M is an element-wise sigmoid (the reference takes a
row softmax, which makes ||1 - M|| nearly constant and no perturbation budget); the perturbation and the
calibration act on the logits, i.e. renormalise probabilities, where the reference applies a softmax to
probabilities (which flattens every row towards uniform); A and C are mixed convexly (the reference's `fixed`
option: softmax(A + 0.5 C), again over probabilities); the perturbed pass perturbs every block and trains only
the attacker (the reference perturbs each block on the calibrated input, takes the perturbed loss from the
last block only, and returns both losses for RecBole's trainer to sum over all parameters, so its backbone is
also pushed to raise the perturbed loss). The calibrators' hyperparameters: `calibration` (the share of C,
default 0.5 as the reference's fixed ratio) and `mask_weight` (the budget's weight, default 0.3). Loss `ce`
(default): softmax over the catalogue at every position; `bce`: one sampled negative (as sasrec.py).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from llmrec.errors import LLMRecError
from llmrec.recommenders.neural.networks.layers import Embedding, PointWiseFeedForward, attention_mask, next_item_loss

ATTACKER = "attack_"  # names of the attacker's parameters start with this


class PairAffine(nn.Module):
    """w [q_i; k_j] + b for every pair (i, j), computed as w_q q_i + w_k k_j + b: (B, H, L) -> (B, H, L, L)."""

    def __init__(self, head_size: int):
        super().__init__()
        self.query, self.key = nn.Linear(head_size, 1), nn.Linear(head_size, 1, bias=False)

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return self.query(q) + self.key(k).transpose(-1, -2)


def log_distances(length: int, device) -> torch.Tensor:
    """log(|i - j| + 1) for every pair of positions (i, j)."""
    index = torch.arange(length, device=device)
    return torch.log1p((index[None, :] - index[:, None]).abs().float())


class CalibratedAttention(nn.Module):
    """Multi-head self-attention with the spatial and the adversarial calibrator (see the module docstring)."""

    def __init__(self, hidden: int, heads: int, dropout: float, calibration: float):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden {hidden} is not a multiple of heads {heads}")
        self.heads, self.head_size = heads, hidden // heads
        self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))
        self.out = nn.Linear(hidden, hidden)
        self.order, self.distance = PairAffine(self.head_size), PairAffine(self.head_size)
        self.omega = nn.Parameter(torch.ones(1))
        self.attack_query, self.attack_key = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.calibration = calibration

    def split(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, hidden) -> (B, H, L, head_size)
        return x.view(x.shape[0], x.shape[1], self.heads, self.head_size).transpose(1, 2)

    def spatial_logits(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """S: the scaled dot products plus the order and distance log-likelihoods (the spatial calibrator)."""
        log_distance = log_distances(q.shape[2], q.device)
        order_term = F.logsigmoid(-self.order(q, k))  # o_ij = 0 on every visible pair (see the module docstring)
        distance_term = -0.5 * self.omega ** 2 * (log_distance - self.distance(q, k)) ** 2
        return (q @ k.transpose(-1, -2) + order_term + distance_term) / math.sqrt(self.head_size)

    def perturbation_mask(self, q_in: torch.Tensor, k_in: torch.Tensor) -> torch.Tensor:
        """M in (0, 1): how much of each pair's attention the attacker leaves intact (adversarial calibrator)."""
        q, k = self.split(self.attack_query(q_in)), self.split(self.attack_key(k_in))
        return torch.sigmoid(q @ k.transpose(-1, -2) / math.sqrt(self.head_size))

    def weights(self, queries: torch.Tensor, keys: torch.Tensor, blocked: torch.Tensor, perturbed: bool):
        """The (B, H, L, L) attention weights and the mask M; rows sum to 1, blocked keys get 0."""
        q_in, k_in = self.query(queries), self.key(keys)
        logits = self.spatial_logits(self.split(q_in), self.split(k_in))
        mask = self.perturbation_mask(q_in, k_in)
        if perturbed:
            noisy = mask * logits + (1 - mask) * torch.randn_like(logits)
            return torch.softmax(noisy.masked_fill(blocked, -math.inf), -1), mask
        original = torch.softmax(logits.masked_fill(blocked, -math.inf), -1)
        boosted = torch.softmax((logits + 1 - mask.detach()).masked_fill(blocked, -math.inf), -1)
        return (1 - self.calibration) * original + self.calibration * boosted, mask

    def forward(self, queries, keys, blocked, perturbed=False):
        weights, mask = self.weights(queries, keys, blocked, perturbed)
        mixed = self.dropout(weights) @ self.split(self.value(keys))
        return self.out(mixed.transpose(1, 2).reshape(queries.shape)), mask


class CalibratedBlocks(nn.Module):
    """SASRec's stack (queries layer-normalised, causal, residual attention and feed-forward, padding zeroed,
    a last layer norm; as layers.CausalBlocks) with calibrated attention."""

    def __init__(self, hidden: int, blocks: int, heads: int, dropout: float, calibration: float):
        super().__init__()
        self.attention_norms = nn.ModuleList(nn.LayerNorm(hidden, eps=1e-8) for _ in range(blocks))
        self.attentions = nn.ModuleList(CalibratedAttention(hidden, heads, dropout, calibration)
                                        for _ in range(blocks))
        self.forward_norms = nn.ModuleList(nn.LayerNorm(hidden, eps=1e-8) for _ in range(blocks))
        self.forwards = nn.ModuleList(PointWiseFeedForward(hidden, dropout) for _ in range(blocks))
        self.last_norm = nn.LayerNorm(hidden, eps=1e-8)

    def forward(self, x: torch.Tensor, keep: torch.Tensor, perturbed: bool = False):
        """The output, and each block's perturbation mask."""
        batch, length, heads = x.shape[0], x.shape[1], self.attentions[0].heads
        blocked = attention_mask(keep.squeeze(-1), heads, causal=True).view(batch, heads, length, length)
        masks = []
        for norm_a, attention, norm_f, feed in zip(self.attention_norms, self.attentions, self.forward_norms,
                                                   self.forwards):
            q = norm_a(x)
            mixed, mask = attention(q, x, blocked, perturbed)
            x = norm_f(q + mixed)
            x = (x + feed(x)) * keep
            masks.append(mask)
        return self.last_norm(x), masks, blocked


class Network(nn.Module):
    def __init__(self, n_items, attributes, *, hidden, max_length, blocks, heads, dropout, loss, calibration,
                 mask_weight, **training):
        super().__init__()
        if calibration > 1:
            raise LLMRecError(f"--model-args calibration: ac-tsr expects a share in [0, 1], got {calibration!r}")
        self.embed = Embedding(n_items + 1, hidden, max_length, dropout)
        self.blocks = CalibratedBlocks(hidden, blocks, heads, dropout, calibration)
        self.loss_name, self.mask_weight = loss, mask_weight

    def forward(self, sequence: torch.Tensor, target: torch.Tensor | None = None, perturbed: bool = False):
        """The encoded sequence; with `target`, the branch's loss instead (calibrated: the next-item loss;
        perturbed: the attacker's, -next-item loss + mask_weight * ||1 - M||)."""
        keep = (sequence > 0).unsqueeze(-1)
        hidden, masks, blocked = self.blocks(self.embed(sequence), keep, perturbed)
        if target is None:
            return hidden
        loss = next_item_loss(hidden, target, self.embed.items, self.loss_name)
        if not perturbed:
            return loss
        visible = ~blocked
        budget = torch.stack([((1 - m) ** 2)[visible].mean().sqrt() for m in masks]).mean()
        return -loss + self.mask_weight * budget

    def loss(self, batch):
        sequence = batch["sequence"]  # the next item of every position is the one after it
        inputs, target = sequence[:, :-1], sequence[:, 1:]
        calibrated = self(inputs, target)
        attacker_only = {name: p if name.rsplit(".", 2)[-2].startswith(ATTACKER) else p.detach()
                         for name, p in self.named_parameters()}
        attacked = functional_call(self, attacker_only, (inputs, target), {"perturbed": True})
        return calibrated + (attacked - attacked.detach())  # both gradients; the value reported is L(calibrated)

    def score(self, histories):
        return self(histories)[:, -1] @ self.embed.items.weight.T
