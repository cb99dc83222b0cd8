"""AC-TSR's calibrators: the spatial terms follow the true order and distance of a pair, the calibrated and the
perturbed attention are distributions over the visible keys only, and each player learns only its objective."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from llmrec.errors import LLMRecError
from llmrec.recommenders.neural.networks.actsr import ATTACKER, CalibratedAttention, Network
from llmrec.recommenders.neural.networks.layers import attention_mask

HIDDEN, HEADS, LENGTH = 8, 2, 6


def attention(calibration=0.5) -> CalibratedAttention:
    torch.manual_seed(0)
    return CalibratedAttention(HIDDEN, HEADS, dropout=0.0, calibration=calibration).eval()


def network(**options) -> Network:
    torch.manual_seed(0)
    settings = {"hidden": HIDDEN, "max_length": LENGTH, "blocks": 2, "heads": HEADS, "dropout": 0.0, "loss": "ce",
                "calibration": 0.5, "mask_weight": 0.3, **options}
    return Network(20, np.zeros((21, 1), np.int64), **settings)


def blocked_for(sequence: torch.Tensor) -> torch.Tensor:
    batch, length = sequence.shape
    return attention_mask(sequence > 0, HEADS, causal=True).view(batch, HEADS, length, length)


def test_with_content_blind_relation_heads_the_spatial_term_depends_only_on_the_offset():
    layer = attention()
    with torch.no_grad():  # the order and distance heads see no content: only their biases remain
        for head in (layer.order, layer.distance):
            head.query.weight.zero_()
            head.key.weight.zero_()
        layer.order.query.bias.fill_(0.7)
        layer.distance.query.bias.fill_(1.3)
        layer.omega.fill_(0.9)
    q, k = torch.zeros(1, 1, LENGTH, 4), torch.zeros(1, 1, LENGTH, 4)  # no dot-product term either
    term = layer.spatial_logits(q, k)[0, 0] * 2  # head_size 4: logits are scaled by 1 / sqrt(4)
    for i in range(LENGTH):
        for j in range(i + 1):  # the visible keys: at or before the query, so o_ij = 0 (later ones are masked)
            order = math.log(1 - 1 / (1 + math.exp(-0.7)))
            distance = -0.5 * 0.9 ** 2 * (math.log(abs(i - j) + 1) - 1.3) ** 2
            assert term[i, j].item() == pytest.approx(order + distance, abs=1e-5)
    assert torch.allclose(term.diagonal(-1), term[1, 0].expand(LENGTH - 1))  # a Toeplitz matrix


def test_the_distance_term_rewards_the_predicted_distance():
    layer = attention()
    with torch.no_grad():  # content-blind heads: order constant on each side, distance 2 predicted for all
        for head in (layer.order, layer.distance):
            head.query.weight.zero_()
            head.key.weight.zero_()
        layer.distance.query.bias.fill_(math.log(3))
    q, k = torch.randn(1, 1, LENGTH, 4), torch.randn(1, 1, LENGTH, 4)
    spatial = layer.spatial_logits(q, k)[0, 0] - (q @ k.transpose(-1, -2))[0, 0] / 2
    assert spatial[4, :5].argmax().item() == 2  # among the keys up to query 4, the one 2 steps back
    assert spatial[4, 2].item() == pytest.approx(spatial[3, 1].item())


@pytest.mark.parametrize("perturbed", [False, True])
def test_attention_rows_are_distributions_over_visible_keys(perturbed):
    layer = attention()
    sequence = torch.tensor([[0, 0, 3, 5, 7, 9], [1, 2, 3, 4, 5, 6]])
    x = torch.randn(2, LENGTH, HIDDEN)
    weights, mask = layer.weights(x, x, blocked_for(sequence), perturbed)
    assert torch.allclose(weights.sum(-1), torch.ones(2, HEADS, LENGTH))
    future = torch.triu(torch.ones(LENGTH, LENGTH, dtype=torch.bool), 1)
    assert (weights[:, :, future] == 0).all()  # never the future
    assert (weights[0, :, 2:, :2] == 0).all()  # real items never attend to padding
    assert ((mask > 0) & (mask < 1)).all()


def test_calibration_moves_weight_to_the_pairs_the_attacker_perturbs():
    layer = attention(calibration=1.0)
    x = torch.randn(1, LENGTH, HIDDEN)
    blocked = blocked_for(torch.arange(1, LENGTH + 1)[None])
    with torch.no_grad():
        original = attention(calibration=0.0).weights(x, x, blocked, False)[0]
        calibrated, mask = layer.weights(x, x, blocked, False)
    for row in range(1, LENGTH):  # C = A exp(1 - M) / Z: within a row, C / A falls as M rises
        ratio, keep = (calibrated / original)[0, 0, row, :row + 1], mask[0, 0, row, :row + 1]
        assert torch.equal(torch.argsort(ratio), torch.argsort(-keep))
        expected = original[0, 0, row, :row + 1] * torch.exp(1 - keep)
        assert torch.allclose(calibrated[0, 0, row, :row + 1], expected / expected.sum(), atol=1e-6)


def test_each_player_gets_only_its_own_gradient():
    net = network()
    sequence = torch.tensor([[0, 0, 3, 5, 7, 9, 11], [1, 2, 3, 4, 5, 6, 7]])
    inputs, target = sequence[:, :-1], sequence[:, 1:]
    torch.manual_seed(1)
    calibrated = net(inputs, target)
    grads = torch.autograd.grad(calibrated, list(net.parameters()), allow_unused=True)
    names = [name for name, _ in net.named_parameters()]
    attacker = [ATTACKER in name for name in names]
    assert all(g is None for g, is_attacker in zip(grads, attacker) if is_attacker)  # M is detached there
    net.zero_grad()
    torch.manual_seed(1)
    total = net.loss({"sequence": sequence})
    assert total.item() == pytest.approx(calibrated.item(), rel=1e-6)  # the value reported is L(calibrated)
    total.backward()
    for (name, p), g in zip(net.named_parameters(), grads):
        if ATTACKER in name:
            assert p.grad is not None and p.grad.abs().sum() > 0
        elif g is not None:
            assert torch.allclose(p.grad, g, atol=1e-6), name  # the backbone: the calibrated loss only


def test_scoring_is_deterministic_and_ignores_the_attacker_noise():
    net = network().eval()
    histories = torch.tensor([[0, 0, 3, 5, 7, 9], [1, 2, 3, 4, 5, 6]])
    torch.manual_seed(3)
    first = net.score(histories)
    torch.manual_seed(4)
    assert torch.equal(first, net.score(histories)) and first.shape == (2, 21)


def test_a_calibration_share_above_one_is_a_one_line_error():
    with pytest.raises(LLMRecError, match="calibration: ac-tsr expects a share in"):
        network(calibration=1.5)
