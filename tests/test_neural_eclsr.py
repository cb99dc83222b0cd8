"""ECL-SR's two augmentations and its contrastive term, on sequences made in code."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from neural_data import pattern_prepared

from llmrec.errors import LLMRecError
from llmrec.recommenders.neural.data import left_padded, sequences_of
from llmrec.recommenders.neural.networks.eclsr import Network, substituted

N_ITEMS = 30
SEQUENCES = torch.tensor([[0, 0, 0, 1, 2, 3, 4, 5, 6, 7],  # 7 items: round(0.3 * 7) = 2 replaced
                          [0, 0, 0, 0, 0, 0, 0, 0, 0, 9],  # 1 item: at least one
                          [11, 12, 13, 14, 15, 16, 17, 18, 19, 20],  # 10 items: 3
                          [0] * 10])  # no item: nothing to replace


def network(**options) -> Network:
    settings = {"hidden": 16, "max_length": 10, "blocks": 2, "heads": 1, "dropout": 0.3, "contrast_weight": 1.0,
                "temperature": 0.5, "contrast_window": 20, "discriminator_weight": 0.05, "substitute_share": 0.3}
    return Network(N_ITEMS, np.zeros((N_ITEMS + 1, 1), np.int64), **{**settings, **options})


def test_mild_view_keeps_the_shape_and_leaves_padding_alone():
    torch.manual_seed(0)
    net = network().train()
    first, second = net.mild_view(SEQUENCES), net.mild_view(SEQUENCES)
    assert first.shape == (*SEQUENCES.shape, 16)
    padding = SEQUENCES == 0
    assert not first[padding].any() and not second[padding].any()
    assert not torch.equal(first[~padding], second[~padding])  # each view its own feature mask
    clean = net.eval().mild_view(SEQUENCES)
    kept = first != 0  # each feature is either masked (0) or kept and rescaled by 1 / (1 - dropout)
    assert torch.allclose(first[kept], clean[kept] / 0.7, atol=1e-6)
    assert 0.5 < kept[~padding].float().mean() < 0.9


def test_substitution_replaces_exactly_the_share_of_items_by_other_items():
    torch.manual_seed(0)
    for _ in range(20):
        altered, replaced = substituted(SEQUENCES, 0.3, N_ITEMS)
        assert altered.shape == SEQUENCES.shape
        assert replaced.sum(1).tolist() == [2, 1, 3, 0]
        assert torch.equal(replaced, altered != SEQUENCES)  # the labels mark exactly the changed positions
        assert not replaced[SEQUENCES == 0].any() and not altered[SEQUENCES == 0].any()
        assert altered[replaced].min() >= 1 and altered[replaced].max() <= N_ITEMS


def test_substituted_positions_and_items_are_spread_over_the_row():
    torch.manual_seed(0)
    many = SEQUENCES[2:3].repeat(2000, 1)
    altered, replaced = substituted(many, 0.3, N_ITEMS)
    per_position = replaced.float().mean(0)
    assert torch.allclose(per_position, torch.full_like(per_position, 0.3), atol=0.05)
    drawn = torch.bincount(altered[replaced], minlength=N_ITEMS + 1)[1:].float()
    assert drawn.min() > 0.5 * drawn.mean()  # every item can be drawn, none favoured


def test_the_discriminator_is_trained_on_the_substitution_labels(monkeypatch):
    from llmrec.recommenders.neural.networks import eclsr

    seen = {}

    def recorded(sequence, share, n_items):
        seen["altered"], seen["replaced"] = substituted(sequence, share, n_items)
        return seen["altered"], seen["replaced"]

    def bce(logits, labels):
        seen["labels"] = labels
        return logits.sum() * 0

    torch.manual_seed(0)
    monkeypatch.setattr(eclsr, "substituted", recorded)
    monkeypatch.setattr(eclsr.F, "binary_cross_entropy_with_logits", bce)
    net = network().train()
    history = SEQUENCES[:3]
    net.discriminator_loss(history, net.encode(history)[:, -1])
    assert torch.equal(seen["labels"], seen["replaced"][history > 0].float())
    assert seen["labels"].sum() == 6


def test_the_contrastive_term_is_finite_and_falls_with_training():
    data = sequences_of(pattern_prepared())
    batch = torch.as_tensor(left_padded(data.train, 9))
    torch.manual_seed(3)
    net = network(max_length=8).train()

    def contrastive() -> float:
        torch.manual_seed(11)  # the same dropout masks before and after
        history = batch[:, :-1]
        with torch.no_grad():
            return float(net.contrastive_loss(net.encode(history.repeat(2, 1)), history > 0))

    before = contrastive()
    optimiser = torch.optim.Adam(net.parameters(), lr=5e-3)
    for _ in range(60):
        optimiser.zero_grad()
        net.loss({"sequence": batch}).backward()
        optimiser.step()
    after = contrastive()
    assert np.isfinite(before) and np.isfinite(after)
    assert after < before - 0.3  # from about log(90 users) = 4.5


def test_bad_ecl_settings_are_one_line_errors():
    with pytest.raises(LLMRecError, match="substitute_share: ecl-sr expects a share in"):
        network(substitute_share=1.5)
    with pytest.raises(LLMRecError, match="temperature: ecl-sr expects a positive number"):
        network(temperature=0.0)
