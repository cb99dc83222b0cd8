"""ComiRec-SA's multi-interest backbone and REMI's training objective (hard negatives, routing regularization)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from llmrec.recommenders import make_recommender
from llmrec.recommenders.neural.networks import comirec, remi
from llmrec.recommenders.neural.networks.remi import (hard_negative_log_weights, ihn_loss, routing_regulariser,
                                                      routing_variance)

N_ITEMS, HIDDEN, LENGTH, K = 40, 16, 10, 4


def network(module=remi, **options):
    torch.manual_seed(3)
    settings = {"hidden": HIDDEN, "max_length": LENGTH, "interests": K, "dropout": 0.0, "negatives": 20, "beta": 1.0,
                "rr_lambda": 100.0, **options}
    return module.Network(N_ITEMS, None, **settings).eval()


def histories() -> torch.Tensor:
    torch.manual_seed(4)
    rows = torch.randint(1, N_ITEMS + 1, (6, LENGTH))
    for row, pads in enumerate([0, 2, 5, 8, 9, 3]):
        rows[row, :pads] = 0  # left-padded, one history of a single item
    return rows


@pytest.mark.parametrize("module", [comirec, remi])
def test_an_item_scores_its_best_interest(module):
    net = network(module)
    batch = histories()
    with torch.no_grad():
        interests = net.encoder(batch)  # (B, K, d)
        per_interest = torch.einsum("bkd,nd->bkn", interests, net.encoder.items.weight)
        assert torch.allclose(net.score(batch), per_interest.max(1).values)
    assert len(per_interest.argmax(1).unique()) > 1  # different items are scored by different interests


def test_the_one_pass_prefix_readout_equals_reading_each_prefix_alone():
    net = network()
    batch = histories()
    with torch.no_grad():
        every, _ = net.encoder.prefixes(batch)  # (B, L, K, d)
        for t in range(LENGTH):
            alone = torch.zeros_like(batch)
            alone[:, LENGTH - t - 1:] = batch[:, :t + 1]  # the prefix ending at t, left-padded again
            has_items = (batch[:, :t + 1] > 0).any(1)
            assert torch.allclose(every[has_items, t], net.encoder(alone)[has_items], atol=1e-6)


def test_the_hard_readout_picks_the_interest_closest_to_the_target():
    interests = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]])
    target = torch.tensor([[0.2, 0.9], [0.9, 0.2]])
    assert torch.equal(comirec.aligned_interest(interests, target), torch.tensor([[0.0, 1.0], [1.0, 0.0]]))


def reference_routing_penalty(routing: torch.Tensor, hidden: int) -> torch.Tensor:
    """The reference code's RR for routing matrices with no padding (B, K, n): ||diag(C)||^2 summed over B."""
    centred = routing - routing.mean(2, keepdim=True)
    covariance = centred @ centred.transpose(1, 2) / hidden
    return (torch.diagonal(covariance, dim1=-2, dim2=-1).norm(dim=1) ** 2).sum()


def penalty(routing: torch.Tensor) -> torch.Tensor:
    n = routing.shape[-1]
    squares = (routing ** 2).sum(-1).unsqueeze(1)  # one prefix per sequence: (B, 1, K)
    one_prefix = torch.ones(len(routing), 1, dtype=torch.bool)
    return routing_regulariser(squares, torch.full((len(routing), 1), n), one_prefix, HIDDEN)


def test_routing_regularisation_is_zero_for_uniform_routing_and_largest_when_it_collapses():
    n = 5
    uniform = torch.full((1, K, n), 1 / n)
    collapsed = torch.eye(n)[:K].unsqueeze(0)  # each interest routed from one item: routing collapse
    between = torch.softmax(torch.randn(1, K, n, generator=torch.Generator().manual_seed(0)), -1)
    assert penalty(uniform).item() == pytest.approx(0, abs=1e-12)
    assert 0 < penalty(between) < penalty(collapsed)
    assert penalty(collapsed).item() == pytest.approx(K * ((1 - 1 / n) / HIDDEN) ** 2)
    for routing in (uniform, collapsed, between):
        assert penalty(routing).item() == pytest.approx(reference_routing_penalty(routing, HIDDEN).item())


def test_routing_variance_counts_only_the_items_of_a_prefix():
    # uniform routing over the 3 items of a short history is not penalised, however long the window
    assert routing_variance(torch.tensor([[1 / 3]]), torch.tensor([3]), HIDDEN).item() == pytest.approx(0)
    assert routing_variance(torch.tensor([[1.0]]), torch.tensor([1]), HIDDEN).item() == 0  # one item: nothing to spread


def test_the_prefix_routing_statistics_match_the_routing_matrices():
    net = network()
    batch = histories()
    with torch.no_grad():
        _, routing = net.encoder.prefixes(batch)
        h, logits, kept = net.encoder.routing(batch)
        row, t = 0, LENGTH - 1  # the full history: its routing rows are the softmax of all its logits
        matrix = logits[row, : t + 1].T.softmax(-1)  # (K, L)
        assert torch.allclose(routing["squares"][row, t].float(), (matrix ** 2).sum(-1), atol=1e-6)
        assert routing["count"][row, t] == LENGTH


def test_hard_negative_weights_favour_the_negatives_closest_to_the_interest():
    scores = torch.tensor([[-1.0, 0.0, 2.0, -math.inf, 1.0]])
    weights = hard_negative_log_weights(scores, beta=1.0).exp()[0]
    assert weights[3] == 0  # a masked negative (the target itself) weighs nothing
    order = [0, 1, 4, 2]  # ascending scores
    assert all(weights[a] < weights[b] for a, b in zip(order, order[1:]))
    sharper = hard_negative_log_weights(scores, beta=5.0).exp()[0]
    assert sharper[2] > weights[2]  # a larger beta puts more mass on the hardest one
    plain = hard_negative_log_weights(scores, beta=0.0).exp()[0]
    assert torch.allclose(plain[[0, 1, 2, 4]], torch.full((4,), 0.25))


def test_ihn_without_beta_is_the_sampled_softmax_and_with_beta_weighs_hard_negatives_more():
    torch.manual_seed(0)
    positive, negatives = torch.randn(8), torch.randn(8, 12) * 2
    sampled_softmax = F.cross_entropy(torch.cat([positive[:, None], negatives], 1), torch.zeros(8, dtype=torch.long))
    assert ihn_loss(positive, negatives, beta=0.0).item() == pytest.approx(sampled_softmax.item(), rel=1e-5)
    assert ihn_loss(positive, negatives, beta=1.0) > ihn_loss(positive, negatives, beta=0.0)
    hard = negatives.clone().requires_grad_()
    ihn_loss(positive, hard, beta=2.0).backward()
    plain = negatives.clone().requires_grad_()
    ihn_loss(positive, plain, beta=0.0).backward()
    hardest = negatives.argmax(1, keepdim=True)
    share = lambda grad: (grad.gather(1, hardest).squeeze(1) / grad.sum(1)).mean()  # noqa: E731
    assert share(hard.grad) > share(plain.grad)  # the hardest negative gets a larger share of the push


def test_remi_trains_on_both_terms_and_the_target_is_never_its_own_negative():
    net = network(negatives=N_ITEMS).train()
    sequence = torch.cat([torch.zeros(6, 1, dtype=torch.long), histories()], 1)  # (B, L + 1)
    loss = net.loss({"sequence": sequence})
    assert torch.isfinite(loss)
    loss.backward()
    assert net.encoder.second.weight.grad.abs().sum() > 0  # routing is trained
    without_rr = network(negatives=N_ITEMS, rr_lambda=0.0).train()
    assert without_rr.loss({"sequence": sequence}) < net.loss({"sequence": sequence})


def test_remi_cache_key_hashes_its_backbone(monkeypatch):
    model = make_recommender("remi", seed=1, options={})
    key = model.code_hash()
    monkeypatch.setattr(type(model), "network_imports", ("sasrec",))
    assert model.code_hash() != key
