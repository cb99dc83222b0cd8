"""BERT4Rec's Cloze masking in training and the place of [MASK] at prediction."""

from __future__ import annotations

import pytest
import torch

from llmrec.errors import LLMRecError
from llmrec.recommenders import make_recommender
from llmrec.recommenders.neural.networks.bert4rec import Network, cloze, with_mask_last

N_ITEMS, MASK = 50, 51


def left_padded_batch(lengths: list[int], width: int) -> torch.Tensor:
    """Rows of items 1..n (cycled), right-aligned and padded with 0 on the left."""
    rows = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, n in enumerate(lengths):
        if n:
            rows[row, width - n:] = torch.arange(n) % N_ITEMS + 1
    return rows


def test_masks_the_given_fraction_of_items_and_never_padding():
    torch.manual_seed(0)
    sequence = left_padded_batch([200, 120, 60, 150] * 50, 200)
    inputs, targets = cloze(sequence, 0.2, MASK)
    masked = inputs == MASK
    assert not masked[sequence == 0].any() and (inputs[sequence == 0] == 0).all()  # padding stays padding
    fraction = masked.sum().item() / (sequence > 0).sum().item()
    assert 0.19 < fraction < 0.21
    assert torch.equal(inputs[~masked], sequence[~masked])  # what is not masked is kept


def test_targets_are_the_masked_items_and_never_the_mask_token():
    torch.manual_seed(1)
    sequence = left_padded_batch([30, 7, 1, 19], 30)
    inputs, targets = cloze(sequence, 0.3, MASK)
    masked = inputs == MASK
    assert torch.equal(targets > 0, masked)
    assert torch.equal(targets[masked], sequence[masked])
    assert targets.max() <= N_ITEMS and not (targets == MASK).any()


def test_every_sequence_has_at_least_one_masked_item():
    torch.manual_seed(2)
    sequence = left_padded_batch([1, 2, 3, 5, 8] * 40, 10)
    for mask_prob in (1e-9, 0.2):
        inputs, targets = cloze(sequence, mask_prob, MASK)
        assert ((targets > 0).sum(1) >= 1).all()
    inputs, targets = cloze(sequence, 1e-9, MASK)  # nearly never drawn: exactly the one forced per sequence
    assert ((targets > 0).sum(1) == 1).all()
    inputs, _ = cloze(sequence[:1].repeat(2000, 1), 1e-9, MASK)  # one item: masked in every row
    assert (inputs[:, -1] == MASK).all()


def test_mask_is_appended_after_the_last_max_length_minus_one_items():
    histories = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5], [0, 0, 0, 0, 7]])
    assert with_mask_last(histories, MASK).tolist() == [[0, 3, 4, 5, MASK], [2, 3, 4, 5, MASK],
                                                        [0, 0, 0, 7, MASK]]


def test_the_score_is_read_at_the_mask_position():
    torch.manual_seed(3)
    net = Network(N_ITEMS, None, hidden=16, max_length=6, layers=1, heads=2, dropout=0.1, mask_prob=0.2).eval()
    histories = torch.tensor([[0, 0, 3, 4, 5, 6], [9, 8, 7, 6, 5, 4]])
    with torch.no_grad():
        direct = net.item_logits(net.encode(torch.tensor([[0, 3, 4, 5, 6, MASK], [8, 7, 6, 5, 4, MASK]]))[:, -1])
        scores = net.score(histories)
    assert scores.shape == (2, N_ITEMS + 1)
    assert torch.allclose(scores, direct)


def test_mask_prob_must_be_a_fraction():
    with pytest.raises(LLMRecError, match="mask_prob: bert4rec expects a fraction"):
        make_recommender("bert4rec", seed=1, options={"mask_prob": 1.5})
