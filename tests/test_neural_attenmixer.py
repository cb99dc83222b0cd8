"""Atten-Mixer's multi-level concepts (the last l items, padding never inside) and its causal training readout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llmrec.errors import LLMRecError
from llmrec.recommenders.neural.data import left_padded
from llmrec.recommenders.neural.networks.attenmixer import Network

N_ITEMS, HIDDEN = 20, 16


def network(levels: int = 3, seed: int = 0) -> Network:
    torch.manual_seed(seed)
    net = Network(N_ITEMS, np.zeros((N_ITEMS + 1, 1), np.int64), hidden=HIDDEN, levels=levels, heads=4, p=4.0,
                  scale=16.0, dropout=0.0)
    return net.eval()


def test_level_l_is_the_sum_of_exactly_the_last_l_items():
    net = network(levels=3)
    sequence = torch.tensor([[0, 0, 5, 7, 2, 9]])
    e = net.embed(sequence)
    sums = net.concept_sums(e)
    for t in range(sequence.shape[1]):
        for level in range(1, 4):
            first = max(t - level + 1, 0)
            assert torch.allclose(sums[0, t, level - 1], e[0, first:t + 1].sum(0))
    valid = net.level_valid(sequence)[0]
    # position 3 (item 7) has two items up to it: levels 1 and 2 exist, level 3 would reach into padding
    assert valid[3].tolist() == [True, True, False]
    assert valid[5].tolist() == [True, True, True]
    assert not valid[:2].any()  # padding positions have no concept at all


def test_padding_never_enters_the_readout():
    net = network(levels=3)
    history = torch.tensor([[4, 8, 1]])
    short = net.readout(history)[:, -1]
    padded = net.readout(torch.tensor([[0, 0, 0, 0, 4, 8, 1]]))[:, -1]
    assert torch.allclose(short, padded, atol=1e-5)
    with torch.no_grad():
        net.items.weight[0].normal_()  # whatever the padding row holds
    assert torch.allclose(net.readout(torch.tensor([[0, 0, 0, 0, 4, 8, 1]]))[:, -1], short, atol=1e-5)


def test_a_level_longer_than_the_history_is_left_out():
    """With two items, a 3-level network reads out exactly what its first two levels alone give."""
    three = network(levels=3)
    two = network(levels=2)
    two.load_state_dict({k: v for k, v in three.state_dict().items() if not k.startswith("concepts.2.")})
    history = torch.tensor([[0, 0, 6, 3]])
    assert torch.allclose(three.readout(history)[:, -1], two.readout(history)[:, -1], atol=1e-6)
    longer = torch.tensor([[0, 6, 3, 11]])  # three items: the third level now counts
    assert not torch.allclose(three.readout(longer)[:, -1], two.readout(longer)[:, -1], atol=1e-4)


def test_the_readout_at_t_sees_only_the_items_up_to_t():
    net = network()
    a = net.readout(torch.tensor([[0, 3, 5, 7, 9, 2]]))
    b = net.readout(torch.tensor([[0, 3, 5, 7, 14, 15]]))
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-6)
    assert not torch.allclose(a[:, 4:], b[:, 4:], atol=1e-4)


def test_score_of_a_history_equals_the_training_readout_at_its_last_position():
    net = network()
    max_length = 6
    users = [np.array([3, 5, 7, 9, 2, 11, 4, 8]), np.array([12, 1, 6])]
    sequence = torch.as_tensor(left_padded(users, max_length + 1))  # what the trainer's batches hold
    history = sequence[:, :-1]
    trained = net.logits(net.readout(history))
    for row in range(len(users)):
        for t in np.flatnonzero(history[row].numpy() > 0):
            prefix = history[row, : t + 1].numpy()
            prefix = prefix[prefix > 0]
            scored = net.score(torch.as_tensor(left_padded([prefix], max_length)))
            assert torch.allclose(scored[0], trained[row, t], atol=1e-4)
    # and the loss is the catalogue cross-entropy of exactly those positions' next items
    at = (sequence[:, 1:] > 0) & (history > 0)
    expected = torch.nn.functional.cross_entropy(trained[at][:, 1:], sequence[:, 1:][at] - 1)
    assert torch.allclose(net.loss({"sequence": sequence}), expected)


def test_bad_heads_or_levels_are_one_line_errors():
    with pytest.raises(LLMRecError, match="heads: atten-mixer needs heads dividing hidden"):
        Network(N_ITEMS, None, hidden=16, levels=3, heads=5, p=4.0, scale=16.0, dropout=0.0)
    with pytest.raises(LLMRecError, match="levels >= 1"):
        Network(N_ITEMS, None, hidden=16, levels=0, heads=4, p=4.0, scale=16.0, dropout=0.0)
