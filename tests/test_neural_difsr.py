"""DIF-SR: item categories alone say what comes next; it must use them, an attribute-blind model cannot as fast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from neural_data import prepared_from
from test_neural import small

from llmrec.errors import LLMRecError
from llmrec.recommenders import make_recommender
from llmrec.recommenders.neural.networks.difsr import Network
from llmrec.tasks.ranking import histories
from llmrec.types import Query

SETTINGS = {"epochs": 30}


def category_chain_prepared(n_items=120, n_categories=6, n_users=60, length=10, seed=0):
    """Each item has one of a few categories, at random; a user's next item is a random item of the category
    after the current item's (mod n_categories). Item ids carry no pattern: only the categories do."""
    rng = np.random.default_rng(seed)
    category = rng.permutation(np.arange(n_items) % n_categories)  # item i has category[i - 1]
    members = [np.flatnonzero(category == c) + 1 for c in range(n_categories)]
    rows = []
    for user in range(1, n_users + 1):
        item = int(rng.integers(1, n_items + 1))
        for j in range(length):
            split = "test" if j == length - 1 else "valid" if j == length - 2 else "train"
            rows.append((user, item, 4.0, 1000 * user + j, split))
            item = int(rng.choice(members[(category[item - 1] + 1) % n_categories]))
    inter = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp", "split"])
    return prepared_from(inter, n_items, [f"genre {c}" for c in category]), category


def category_hit_rate(model, prepared, category) -> float:
    """The share of test items whose category is that of the model's first-ranked item."""
    seen = histories(prepared, "test")
    held = prepared.interactions[prepared.interactions["split"] == "test"]
    return float(np.mean([category[model.rank(Query(user, history=seen[user]))[0] - 1] == category[item - 1]
                          for user, item in zip(held["user"], held["item"])]))


def test_categories_that_decide_the_next_item_are_learned_where_an_attribute_blind_model_fails(tmp_path):
    prepared, category = category_chain_prepared()
    scores = {}
    for name in ("dif-sr", "sasrec"):
        model = small(name, tmp_path, **SETTINGS)
        model.fit(prepared)
        scores[name] = category_hit_rate(model, prepared, category)
    assert scores["dif-sr"] > 0.9  # chance is 1 / 6
    assert scores["dif-sr"] > scores["sasrec"] + 0.3


@pytest.mark.parametrize("fusion", ["sum", "concat"])
def test_every_fusion_learns_the_categories(fusion, tmp_path):
    prepared, category = category_chain_prepared()
    model = small("dif-sr", tmp_path, fusion=fusion, **SETTINGS)
    model.fit(prepared)
    assert category_hit_rate(model, prepared, category) > 0.8


def test_attributes_enter_the_attention_only_never_the_values():
    """Items 1 and 3 alike but for their category: where an item sees only itself its output is its id's alone;
    later, the category changes where attention goes, hence the output."""
    attributes = np.array([[0], [1], [2], [2]])  # item 1: category 1; items 2 and 3: category 2
    torch.manual_seed(0)
    net = Network(3, attributes, hidden=8, attribute_hidden=8, max_length=2, blocks=1, heads=1, dropout=0.0,
                  fusion="sum", lambda_attr=1.0).eval()
    with torch.no_grad():
        for weight in (net.attribute_embeddings[0].table.weight, *(layer.weight for layer in
                       (*net.attentions[0].attribute_queries, *net.attentions[0].attribute_keys))):
            weight.normal_(std=1.0)  # attribute scores far from zero, so that they matter
        net.items.weight[3] = net.items.weight[1]
        out = net.encode(torch.tensor([[1, 2], [3, 2]]))
    assert torch.allclose(out[0, 0], out[1, 0], atol=1e-6)
    assert (out[0, 1] - out[1, 1]).abs().max() > 1e-3


def test_the_auxiliary_predictor_targets_every_category_of_the_next_item():
    attributes = np.array([[0, 0], [1, 2], [3, 0]])  # item 1: categories 1 and 2; item 2: category 3
    net = Network(2, attributes, hidden=8, attribute_hidden=8, max_length=2, blocks=1, heads=1, dropout=0.0,
                  fusion="gate", lambda_attr=1.0)
    hidden = torch.zeros(2, 8)
    with torch.no_grad():
        net.attribute_predictor.bias.copy_(torch.tensor([9.0, 9.0, -9.0]))  # predicts categories 1 and 2
        right = net.attribute_loss(hidden, torch.tensor([1, 1])).item()
        wrong = net.attribute_loss(hidden, torch.tensor([2, 2])).item()
    assert right < 0.01 and wrong > 5


def test_a_catalogue_without_categories_trains_on_items_and_positions(tmp_path):
    prepared, _ = category_chain_prepared(n_users=20)
    prepared.items["category"] = ""
    model = small("dif-sr", tmp_path, epochs=2)
    model.fit(prepared)
    assert model.fit_report()["epochs"] == 2
    assert not any("attribute" in key for key in model.weights)


def test_heads_must_divide_both_widths():
    model = make_recommender("dif-sr", seed=1, device="cpu", options={"hidden": 32, "attribute_hidden": 20,
                                                                      "heads": 3, "max_length": 4})
    with pytest.raises(LLMRecError, match="divisible by heads"):
        model.network(3, np.zeros((4, 1), np.int64))
    with pytest.raises(LLMRecError, match="fusion: dif-sr takes one of gate, concat, sum"):
        make_recommender("dif-sr", seed=1, options={"fusion": "mean"})
