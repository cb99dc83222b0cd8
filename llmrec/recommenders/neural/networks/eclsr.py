"""ECL-SR (Zhou et al., "Equivariant Contrastive Learning for Sequential Recommendation", RecSys 2023).

A SASRec encoder (networks/layers.py) trained on three weighted objectives in one step:
- next-item prediction (the recommendation loss): softmax cross-entropy over the catalogue at every position;
- invariant contrastive learning (the paper's branch for "mild augmentations"): two views of each
  sequence by feature-level dropout masking of the embedded items (SimCSE-style: the same sequence through
  the encoder twice, each with its own dropout mask); each view's representation is the mean of the encoder's
  outputs over the last `contrast_window` non-padding positions, and InfoNCE over the batch (cosine / `temperature`,
  the other users of the batch as negatives) pulls the two views of a user together;
- equivariant learning (the branch for "invasive augmentations"): item substitution replaces a share
  `substitute_share` of each sequence's items by other items, and a conditional discriminator predicts, at every
  position, whether the item there was replaced, conditioned on the original sequence's representation
  (the encoder's last output, concatenated to each item of the substituted sequence and projected: the authors'
  `cat` option; their ML-1M script adds each position's original output instead, `addall`). The
  discriminator shares the encoder's embedding and attention blocks (as the authors' code, `share_param=all`),
  so its binary cross-entropy shapes the encoder: the representation must tell an intact sequence from an altered
  one, i.e. it is sensitive (equivariant) to substitution while invariant to dropout masking.
Total (the multi-task objective): L = L_rec + contrast_weight * L_contrast + discriminator_weight * L_discriminator.
The scores of the next item are the last position's output against the item embeddings, as SASRec.

Defaults (models.py) are the authors' released MovieLens-1M script (Tokkiu/ECL, benchmarks/run_ml1m.sh):
contrastive weight 0.001, discriminator weight 0.05, mask ratio 0.2, mean over the last 20 positions, and the
temperature 0.05 of their model config; the encoder's are SASRec's.

Simplified: the replacements are items drawn uniformly (the authors' `subs` option) instead of the items a
jointly trained BERT4Rec generator proposes at masked positions (their default, with its own masked-item loss),
so there is no generator and no generator loss (weight 0.2 in their script); exactly max(1, round(share * length))
positions are replaced per sequence (the authors draw int(share * length) + 1); the discriminator is causal, like
the encoder (their ML-1M script also runs it unidirectionally); and it does not add to the scores at inference.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from llmrec.errors import LLMRecError
from llmrec.recommenders.neural.networks.layers import CausalBlocks, Embedding, next_item_loss


class Network(nn.Module):
    def __init__(self, n_items, attributes, *, hidden, max_length, blocks, heads, dropout, contrast_weight,
                 temperature, contrast_window, discriminator_weight, substitute_share, **training):
        super().__init__()
        if not 0 <= substitute_share <= 1:
            raise LLMRecError(f"--model-args substitute_share: ecl-sr expects a share in [0, 1], "
                              f"got {substitute_share}")
        if temperature <= 0:
            raise LLMRecError(f"--model-args temperature: ecl-sr expects a positive number, got {temperature}")
        self.n_items = n_items
        self.embed = Embedding(n_items + 1, hidden, max_length, dropout)
        self.blocks = CausalBlocks(hidden, blocks, heads, dropout)
        self.condition = nn.Linear(2 * hidden, hidden)  # item of the altered sequence + original representation
        self.discriminator = nn.Linear(hidden, 1)  # logit of "this position was replaced"
        self.contrast_weight, self.temperature, self.window = contrast_weight, temperature, contrast_window
        self.discriminator_weight, self.share = discriminator_weight, substitute_share

    def mild_view(self, sequence: torch.Tensor) -> torch.Tensor:
        """The embedded sequence under feature-level dropout masking (a fresh mask per call in training mode);
        padding positions stay zero."""
        return self.embed(sequence)

    def encode(self, sequence: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.mild_view(sequence), (sequence > 0).unsqueeze(-1))

    def loss(self, batch):
        sequence = batch["sequence"]
        history, target = sequence[:, :-1], sequence[:, 1:]  # the next item of every position is the one after
        views = 2 if self.contrast_weight > 0 else 1
        hidden = self.encode(history.repeat(views, 1))  # both dropout views in one pass: (views * B, L, d)
        original = hidden[: len(history)]
        total = next_item_loss(original, target, self.embed.items, "ce")
        if views == 2:
            total = total + self.contrast_weight * self.contrastive_loss(hidden, history > 0)
        if self.discriminator_weight > 0:
            total = total + self.discriminator_weight * self.discriminator_loss(history, original[:, -1])
        return total

    def contrastive_loss(self, hidden: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """InfoNCE between the two views (rows b and B + b of `hidden`): each view-1 representation against
        every view-2 representation of the batch, its own user's as the positive."""
        first, second = hidden.chunk(2)
        a, b = window_mean(first, keep, self.window), window_mean(second, keep, self.window)
        similarity = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / self.temperature
        return F.cross_entropy(similarity, torch.arange(len(a), device=a.device))

    def discriminator_loss(self, history: torch.Tensor, representation: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy of the conditional discriminator over the non-padding positions of the
        substituted sequences: replaced (1) or original (0)."""
        altered, replaced = substituted(history, self.share, self.n_items)
        keep = (altered > 0).unsqueeze(-1)
        condition = representation[:, None, :].expand(-1, altered.shape[1], -1)
        x = self.condition(torch.cat([self.embed(altered), condition], -1)) * keep
        logits = self.discriminator(self.blocks(x, keep)).squeeze(-1)
        at = history > 0
        return F.binary_cross_entropy_with_logits(logits[at], replaced[at].float())

    def score(self, histories):
        return self.encode(histories)[:, -1] @ self.embed.items.weight.T


def window_mean(hidden: torch.Tensor, keep: torch.Tensor, window: int) -> torch.Tensor:
    """Mean of the outputs over the last `window` positions that hold an item (sequences are left-padded)."""
    last = torch.zeros_like(keep)
    last[:, -window:] = True
    weight = (keep & last).unsqueeze(-1).float()
    return (hidden * weight).sum(1) / weight.sum(1).clamp(min=1)


def substituted(sequence: torch.Tensor, share: float, n_items: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Item substitution (the invasive augmentation): in each row, max(1, round(share * n)) of its n items, at
    uniformly drawn positions, become a uniformly drawn other item; padding is left alone. Returns the altered
    sequences and the mask of replaced positions (the discriminator's labels)."""
    present = sequence > 0
    length = present.sum(1, keepdim=True)
    count = torch.floor(share * length + 0.5).clamp(min=1) * (length > 0)
    noise = torch.rand(sequence.shape, device=sequence.device).masked_fill(~present, 2.0)  # padding draws last
    rank = noise.argsort(1).argsort(1)  # each position's place in a random order of the row's items
    replaced = rank < count
    other = torch.randint(1, max(n_items, 2), sequence.shape, device=sequence.device)
    other = other + (other >= sequence).long()  # uniform over the items other than the one it replaces
    return torch.where(replaced, other, sequence), replaced
