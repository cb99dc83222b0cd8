"""Samples built from the real MovieLens-100k and clothing reviews splits, and their prompts."""

from collections import Counter

import pytest

from llmrec.errors import LLMRecError
from llmrec.prompts import load_template
from llmrec.tasks import TASKS, SampleOptions, parse_task_list


@pytest.fixture(scope="module")
def movielens(prepared_cache):
    from llmrec.data import prepare_dataset

    return prepare_dataset("movielens-100k", cache_dir=prepared_cache)


@pytest.fixture(scope="module")
def clothing(prepared_cache):
    from llmrec.data import prepare_dataset

    return prepare_dataset("clothing-reviews", cache_dir=prepared_cache)


def test_sequential_target_is_the_users_last_interaction(movielens):
    samples = TASKS["sequential"].build(movielens, SampleOptions())
    inter = movielens.interactions
    assert len(samples) == 943
    s = samples[0]
    rows = inter[inter["user"] == s.user].sort_values("timestamp", kind="stable")
    assert rows["item"].iloc[-1] == s.reference == s.item
    assert s.variables["seen"] == rows["item"].iloc[:-1].tolist()
    assert [h["item"] for h in s.variables["history"]] == rows["item"].iloc[-11:-1].tolist()


def test_candidates_hold_the_target_once_and_never_seen_negatives(movielens):
    for s in TASKS["direct"].build(movielens, SampleOptions(limit=50)):
        assert len(s.candidates) == 100 and len(set(s.candidates)) == 100
        assert s.candidates.count(s.reference) == 1
        seen = set(movielens.interactions.loc[movielens.interactions["user"] == s.user, "item"])
        assert not (set(s.candidates) - {s.reference}) & seen
    positions = [s.candidates.index(s.reference) for s in TASKS["direct"].build(movielens, SampleOptions(limit=200))]
    assert len(set(positions)) > 50  # shuffled per sample, not a fixed slot


@pytest.mark.parametrize("order,position", [("target-first", 0), ("target-last", 99)])
def test_candidate_order_probe(movielens, order, position):
    for s in TASKS["direct"].build(movielens, SampleOptions(limit=20, candidate_order=order)):
        assert s.candidates.index(s.reference) == position


@pytest.mark.parametrize("task", ["rating", "direct", "review"])
def test_limit_is_a_seeded_subset_of_the_full_set_spread_over_users(movielens, clothing, task):
    data = clothing if task == "review" else movielens
    full = {s.sample_id: s for s in TASKS[task].build(data, SampleOptions())}
    a = TASKS[task].build(data, SampleOptions(limit=50))
    b = TASKS[task].build(data, SampleOptions(limit=50))
    other_seed = TASKS[task].build(data, SampleOptions(limit=50, seed=7))
    assert [s.sample_id for s in a] == [s.sample_id for s in b]  # the same ids for every model
    assert len(a) == 50 and len({s.user for s in a}) == 50  # one sample per user while users last
    assert all(dict(s.variables) == dict(full[s.sample_id].variables) and s.reference == full[s.sample_id].reference
               for s in a)
    assert {s.sample_id for s in a} != {s.sample_id for s in other_seed}
    order = list(full)
    assert [order.index(s.sample_id) for s in a] == sorted(order.index(s.sample_id) for s in a)  # task order kept


def test_limit_beyond_the_users_takes_a_second_sample_of_each_user_before_a_third(movielens):
    users = len(set(movielens.ratings.loc[movielens.ratings["split"] == "test", "user"]))
    samples = TASKS["rating"].build(movielens, SampleOptions(limit=users + 100))
    per_user = Counter(s.user for s in samples)
    assert len(per_user) == users and max(per_user.values()) == 2 and sum(per_user.values()) == users + 100


@pytest.mark.parametrize("task", ["rating", "sequential", "direct"])
def test_variables_are_built_on_first_read_and_do_not_depend_on_read_order(movielens, task):
    forward = TASKS[task].build(movielens, SampleOptions(limit=40, shots=1))
    backward = TASKS[task].build(movielens, SampleOptions(limit=40, shots=1))
    assert all(s.variables._values is None for s in forward)  # nothing built yet
    read_backward = [dict(s.variables) for s in reversed(backward)][::-1]
    assert [dict(s.variables) for s in forward] == read_backward
    assert all(s.variables._values is not None for s in forward)
    first = forward[0]
    assert {**first.variables} == dict(first.variables) and "history" in first.variables
    assert first.variables.get("no such variable") is None


def test_training_samples_never_come_from_valid_or_test(movielens):
    inter = movielens.interactions
    held_out = set(zip(inter.loc[inter["split"] != "train", "user"], inter.loc[inter["split"] != "train", "item"]))
    train_samples = TASKS["sequential"].build(movielens, SampleOptions(split="train", limit=5000))
    assert train_samples and not {(s.user, s.reference) for s in train_samples} & held_out
    ratings = movielens.ratings
    held = set(zip(ratings.loc[ratings["split"] != "train", "user"], ratings.loc[ratings["split"] != "train", "item"]))
    assert not {(s.user, s.item) for s in TASKS["rating"].build(movielens, SampleOptions(split="train"))} & held


def test_rating_samples_and_few_shot_examples(movielens):
    samples = TASKS["rating"].build(movielens, SampleOptions(shots=3))
    test = movielens.ratings[movielens.ratings["split"] == "test"]
    assert len(samples) == len(test)
    assert all(1 <= s.reference <= 5 for s in samples)
    s = next(s for s in samples if len(s.variables["history"]) == 10)
    assert s.variables["examples"] == s.variables["history"][-3:]
    assert all(e["item"] != s.item for e in s.variables["examples"])


def test_rating_history_is_the_users_latest_earlier_training_ratings(movielens):
    ratings = movielens.ratings.sort_values(["user", "timestamp"], kind="stable")
    samples = TASKS["rating"].build(movielens, SampleOptions(limit=300))
    assert sum(len(s.variables["history"]) == 10 for s in samples) > 200
    for s in samples[:100]:
        when = ratings.loc[(ratings["user"] == s.user) & (ratings["item"] == s.item), "timestamp"].iloc[0]
        earlier = ratings[(ratings["user"] == s.user) & (ratings["split"] == "train")
                          & (ratings["timestamp"] < when) & (ratings["item"] != s.item)]
        # a random split leaves later ratings in train: the prompt must not see them
        assert [(h["item"], h["rating"]) for h in s.variables["history"]] == \
            list(zip(earlier["item"].iloc[-10:], earlier["rating"].iloc[-10:]))


def test_zero_shot_rating_prompt_has_the_published_wording(movielens):
    s = TASKS["rating"].build(movielens, SampleOptions(limit=1))[0]
    prompt = load_template("rating", "zero-shot").render(s.variables)
    assert prompt == (f'How will user rate this product_title: "{s.variables["title"]}", and product_category: '
                      f'{s.variables["category"]}? (1 being lowest and 5 being highest) Attention! Just give me '
                      "back the exact number a result , and you don't need a lot of text.")


def test_every_template_renders_for_every_task(movielens, clothing):
    for task in TASKS.values():
        prepared = clothing if task.kind == "text" else movielens
        s = task.build(prepared, SampleOptions(limit=1, shots=3))[0]
        for name in ("zero-shot", "few-shot", "p5-sft"):
            t = load_template(task.name, name)
            prompt = t.render(s.variables)
            assert prompt and "{{" not in prompt
            answer = t.render_answer(s.variables, s.reference)
            assert answer.strip()
            if name == "p5-sft":
                assert prompt.startswith("### Instruction:\n") and prompt.endswith("\n\n### Response:\n")
                assert not t.chat


def test_sft_answers(movielens):
    s = TASKS["sequential"].build(movielens, SampleOptions(limit=1))[0]
    assert load_template("sequential", "p5-sft").render_answer(s.variables, s.reference) == f"item_{s.reference}"
    r = TASKS["rating"].build(movielens, SampleOptions(limit=1))[0]
    assert load_template("rating", "p5-sft").render_answer(r.variables, 4.0) == "4"


def test_text_tasks_on_clothing_reviews(clothing):
    review = TASKS["review"].build(clothing, SampleOptions(limit=20))
    assert len(review) == 20
    assert all(s.reference and s.variables["review"] for s in review)
    explanation = TASKS["explanation"].build(clothing, SampleOptions(limit=20))
    assert all(s.reference and 1 <= s.variables["rating"] <= 5 for s in explanation)


def test_bad_templates_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("chat: true\nprompt: [unclosed\n")
    with pytest.raises(LLMRecError, match="bad.yaml:"):
        load_template("rating", str(bad))
    missing = tmp_path / "missing.yaml"
    missing.write_text("prompt: '{{ task_description }}'\n")
    with pytest.raises(LLMRecError, match="missing.yaml: expected string keys"):
        load_template("rating", str(missing))
    with pytest.raises(LLMRecError, match="unknown template 'nope'"):
        load_template("rating", "nope")


def test_task_lists():
    assert [t.name for t in parse_task_list("all")] == list(TASKS)
    assert [t.name for t in parse_task_list("direct, rating,direct")] == ["direct", "rating"]
    with pytest.raises(LLMRecError, match="unknown task 'ratings'"):
        parse_task_list("ratings")
