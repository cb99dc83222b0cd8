"""GRU4Rec: left padding leaves the recurrent state untouched, so the score depends on the items only."""

from __future__ import annotations

import torch

from llmrec.recommenders.neural.networks.gru4rec import Network


def test_left_padding_does_not_change_the_score():
    torch.manual_seed(0)
    for layers in (1, 2):
        net = Network(20, None, hidden=8, layers=layers, dropout=0.25).eval()
        history = torch.tensor([[4, 9, 2]])
        padded = torch.cat([torch.zeros(1, 17, dtype=torch.long), history], 1)
        with torch.no_grad():
            assert torch.allclose(net.score(history), net.score(padded), atol=1e-6)
            assert not torch.allclose(net.score(history), net.score(torch.tensor([[9, 4, 2]])))  # order counts
