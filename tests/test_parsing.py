import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from llmrec.parsing import (ItemMatcher, normalise_title, parse_ranking, parse_rating, parse_rating_prediction,
                            parse_text, read_ranking, split_ranked_list)
from llmrec.types import Prediction


@pytest.fixture(scope="module")
def ml100k_items() -> pd.DataFrame:
    """The real MovieLens-100k titles shipped in the recbole package (read without importing it)."""
    spec = importlib.util.find_spec("recbole")
    if spec is None:
        pytest.skip("recbole (MovieLens-100k data) is not installed")
    path = Path(spec.submodule_search_locations[0]) / "dataset_example" / "ml-100k" / "ml-100k.item"
    raw = pd.read_csv(path, sep="\t", quoting=3, dtype=str)
    items = pd.DataFrame({"title": raw["movie_title:token_seq"].fillna("").values},
                         index=pd.Index(raw["item_id:token"].astype(int).values, name="item"))
    assert len(items) == 1682
    return items


@pytest.fixture(scope="module")
def matcher(ml100k_items) -> ItemMatcher:
    return ItemMatcher(ml100k_items)


# --- ratings ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("4", 4.0),
    ("4.5 stars", 4.5),
    ("I'd say 4", 4.0),
    ("Rating: 3/5", 3.0),
    ("**4**", 4.0),
    ("four", 4.0),
    ("Four.", 4.0),
    ("4 out of 5", 4.0),
    ("4.", 4.0),
    ("Predicted rating: 4.0", 4.0),
    ("rating:5", 5.0),
    ("Rating = 2.5", 2.5),
    ("**Rating:** 4", 4.0),
    ("The rating is **3**.", 3.0),
    ("I would give it a 3 out of five.", 3.0),
    ("four out of five stars", 4.0),
    ("I'd rate it 4.5/5", 4.5),
    ("The user will rate it as 4 out of 5 stars.", 4.0),
    # Scales other than five points are rescaled; ranges give their midpoint.
    ("Rating: 8/10", 4.0),
    ("3-4 stars", 3.5),
    # Echoes of the prompt's scale are not the answer.
    ("On a scale of 1 to 5 (1 being lowest and 5 being highest), I'd rate it 4.", 4.0),
    ("(1 being lowest and 5 being highest) The user would rate this product 2.", 2.0),
    ("I think the user would rate it 4 (1 being lowest and 5 being highest).", 4.0),
    ("3 (1 being lowest and 5 being highest)", 3.0),
    ("5 being the highest, I'd give it a 4", 4.0),
    ("On a 1-5 scale: 3", 3.0),
    ("Between 1 and 5, I choose 2", 2.0),
    ('How will user rate this product_title: "Heat"? (1 being lowest and 5 being highest) 4', 4.0),
    # Numbers in titles, ids, dates and years are not ratings; the explicit rating wins.
    ("The user would rate Apollo 13 a 4.", 4.0),
    ("Based on the user's history, I predict a rating of 3.5 for Toy Story 2.", 3.5),
    ("The user user_123 will rate item_456 with 3", 3.0),
    ("Given the reviews on 12/03/2019, rating 2", 2.0),
    ("The movie from 1995 gets 4", 4.0),
    ("This is 1 of my favourites; rating: 4", 4.0),
    ("The user has watched 2 similar movies. Rating: 3", 3.0),
    ("User rating prediction: 4\n\nExplanation: the user gave 5 stars to similar items.", 4.0),
    ("Based on previous ratings of 5, 4 and 5, the user will likely rate it 4.", 4.0),
    ("It is one of the best, I'd rate it five stars.", 5.0),
    ("As an AI, I can't know. But if I had to guess, 3.", 3.0),
    ("Sure! The answer is 5.", 5.0),
    ("I would rate it a solid 4", 4.0),
    ("I'd rate it between 3 and 4", 3.0),  # a range without "stars": its first number
    ("On a scale of 1 to 5 I give it 3", 3.0),
    # Nothing that reads as a rating.
    ("I cannot predict the rating.", None),
    ("I think the user would like this one.", None),
    ("Rating: 15", None),
    ("", None),
    ("-", None),
])
def test_parse_rating(text, expected):
    assert parse_rating(text) == expected


def test_parse_rating_prediction_flags_failures():
    assert parse_rating_prediction("Rating: 4").value == 4.0
    failed = parse_rating_prediction("I am not sure.")
    assert failed.value is None and failed.parse_failed
    assert parse_rating_prediction("0").value == 0.0 and not parse_rating_prediction("0").parse_failed  # clamped later


# --- ranked lists --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("['Toy Story', 'Heat', \"Schindler's List\"]", ["Toy Story", "Heat", "Schindler's List"]),
    # Not valid Python (an apostrophe inside single quotes), after a chatty preamble.
    ("Sure! Here are my recommendations: ['Toy Story', 'Schindler's List', 'Heat']",
     ["Toy Story", "Schindler's List", "Heat"]),
    # Cut off by the token limit: the last, partial element is kept (and will match nothing).
    ("['Toy Story', 'Heat', 'Casi", ["Toy Story", "Heat", "Casi"]),
    ("```python\n['Toy Story', 'Heat']\n```", ["Toy Story", "Heat"]),
    ('Here is the list:\n[\n  "Toy Story",\n  "Heat"\n]\n\nThese fit because...', ["Toy Story", "Heat"]),
    ('["1. Toy Story", "2. Heat"]', ["Toy Story", "Heat"]),
    ("[Toy Story, Heat, Casino]", ["Toy Story", "Heat", "Casino"]),
    ("1. Toy Story (1995)\n2. **Heat** - a great thriller\n3) \"Casino\"\n\nI hope you enjoy these!",
     ["Toy Story (1995)", "Heat", "Casino"]),
    ("Sure! Here are 10 movies you may like:\n\n1. Toy Story\n2. Heat\nThese are based on your history.",
     ["Toy Story", "Heat"]),
    ("**1. Toy Story**\n**2. Heat**", ["Toy Story", "Heat"]),
    # Brackets inside a numbered line are part of that line, not a Python list.
    ("1. Toy Story [Animation, Comedy]\n2. Heat", ["Toy Story [Animation, Comedy]", "Heat"]),
    ("Sure! Here are 3 movies:\n- Toy Story\n- Heat\n* Casino", ["Toy Story", "Heat", "Casino"]),
    ("Here are my picks:\nToy Story\nHeat\nCasino", ["Toy Story", "Heat", "Casino"]),
    ("```\nToy Story\nHeat\n```", ["Toy Story", "Heat"]),
    # Commas are split only where the pieces name catalog items (see test_read_ranking).
    ("Toy Story, Heat, Casino", ["Toy Story, Heat, Casino"]),
    ("Heat", ["Heat"]),
    ("[]", []),
    ("", []),
    ("   \n  ", []),
])
def test_split_ranked_list(text, expected):
    assert split_ranked_list(text) == expected


# --- matching against the real MovieLens-100k catalog ----------------------------------------------

@pytest.mark.parametrize("mention, item", [
    ("Toy Story", 1),
    ("toy story (1995)", 1),
    ("The Godfather", 127),  # catalog: "Godfather, The"
    ("Godfather, The (1972)", 127),
    ("The Godfather: Part II", 187),  # catalog: "Godfather: Part II, The"
    ("The Godfather Part 2", 187),
    ("The Shawshank Redemption (1994)", 64),
    ("Shawshank Redemtion", 64),  # a typo: fuzzy
    ("Pulp Fictions", 56),
    ("Les Misérables", 543),  # catalog: "Misérables, Les"
    ("Les Miserables", 543),
    ("Mission Impossible", 405),  # catalog: "Mission: Impossible"
    ("Seven", 11),  # catalog: "Seven (Se7en)"
    ("Contempt", 1252),  # catalog: "Contempt (Mépris, Le)"
    ("The Lion King", 71),
    ("Aliens", 176),
    ("Alien 3", 665),
    ("item_50", 50),
    ("<item 50>", 50),
    ("Item ID: 50", 50),
    ("50", 50),
])
def test_matcher_finds(matcher, mention, item):
    assert matcher.match(mention) == item


@pytest.mark.parametrize("mention", [
    "Toy Story 2",  # a sequel that is not in the catalog must not become Toy Story
    "Apollo 12",
    "12 Monkeys",  # the catalog spells it "Twelve Monkeys": numbers must agree
    "Star Wars: The Last Jedi",
    "Casino Royale",
    "Heath",
    "The Matrix",
    "item_99999",
    "",
    "The",
])
def test_matcher_rejects_near_misses(matcher, mention):
    assert matcher.match(mention) is None


def test_matcher_duplicate_titles_resolve_to_lowest_id():
    items = pd.DataFrame({"title": ["Hamlet", "Heat", "Hamlet (1996)", ""]}, index=[9, 4, 2, 7])
    m = ItemMatcher(items)
    assert m.match("Hamlet") == 9  # exact title beats the normalised form
    assert m.match("hamlet") == 2  # both normalise to "hamlet": lowest id
    assert m.match("Heat") == 4
    assert m.match("") is None


def test_matcher_threshold_is_respected(ml100k_items):
    strict = ItemMatcher(ml100k_items, threshold=99)
    assert strict.match("Shawshank Redemtion") is None
    assert strict.match("Shawshank Redemption") == 64


def test_normalise_title():
    assert normalise_title("Godfather, The (1972)") == "godfather"
    assert normalise_title("The Godfather") == "godfather"
    assert normalise_title("Misérables, Les") == "miserables"
    assert normalise_title("Godfather: Part II, The") == "godfather part 2"
    assert normalise_title("  A Bug's Life ") == "bug s life"


# --- parse_ranking: counting -----------------------------------------------------------------------

def test_parse_ranking_counts_everything(matcher):
    text = ("Sure! Here are my recommendations:\n1. Toy Story (1995)\n2. The Godfather\n3. Toy Story\n"
            "4. Toy Story 2\n5. Star Wars\n6. \"Heat\"\nHope this helps!")
    candidates = [1, 127, 273, 99]  # Star Wars (50) is a real item outside the candidates
    p = parse_ranking(text, matcher, candidates)
    assert p.value == [1, 127, 273]
    assert (p.duplicates, p.hallucinated, p.out_of_candidates, p.parse_failed) == (1, 1, 1, False)
    assert len(p.value) + p.duplicates + p.hallucinated + p.out_of_candidates == 6


def test_parse_ranking_without_candidates_keeps_catalog_items(matcher):
    p = parse_ranking("['Star Wars', 'The Godfather', 'Star Wars', 'Titanic']", matcher)
    assert p.value == [50, 127, 313] and p.duplicates == 1 and p.out_of_candidates == 0


def test_parse_ranking_ids_from_finetuned_models(matcher):
    p = parse_ranking("item_50 , item_127 , item_50", matcher, candidates=[50, 127])
    assert p.value == [50, 127] and p.duplicates == 1


def test_parse_ranking_failures(matcher):
    assert parse_ranking("", matcher).parse_failed
    assert parse_ranking("[]", matcher).parse_failed
    # A refusal is text, not a failure to find text: it is one hallucinated mention (its comma does
    # not separate titles), it scores 0, and it is not a well-formed list.
    p = parse_ranking("I'm sorry, I can't recommend movies.", matcher)
    assert not p.parse_failed and p.value == [] and p.hallucinated == 1 and not p.well_formed


# --- two views: titles read out of prose (refined), and well-formed lists only (strict) ---------------

SOUL_FOOD = 880  # "Soul Food (1997)" in MovieLens-100k


@pytest.mark.parametrize("text, mentions, well_formed", [
    # Well-formed lists: nothing but the list; every entry a bare title or id.
    ("['Toy Story', 'Heat', \"Schindler's List\"]", ["Toy Story", "Heat", "Schindler's List"], True),
    ("['Toy Story', 'Schindler's List', 'Heat']", ["Toy Story", "Schindler's List", "Heat"], True),
    ("```python\n['Toy Story', 'Heat']\n```", ["Toy Story", "Heat"], True),
    ("1. Toy Story (1995)\n2. **Heat**\n3) \"Casino\"", ["Toy Story (1995)", "Heat", "Casino"], True),
    ("- Toy Story\n- Heat", ["Toy Story", "Heat"], True),
    ("Toy Story\nHeat\nCasino", ["Toy Story", "Heat", "Casino"], True),
    ("item_50", ["item_50"], True),
    ("Paris Is Burning (1990)", ["Paris Is Burning (1990)"], True),  # "is" inside a title is no cue
    ("1. Toy Story 2\n2. Heat", ["Toy Story 2", "Heat"], True),  # a hallucinated title is still a list entry
    # Text around the list, or a list that is not Python, or cut off: the strict view rejects it.
    ("Here are my picks:\nToy Story\nHeat", ["Toy Story", "Heat"], False),
    ("1. Toy Story\n2. Heat\nI hope you enjoy these!", ["Toy Story", "Heat"], False),
    ("Sure! Here are my recommendations: ['Toy Story', 'Heat']", ["Toy Story", "Heat"], False),
    ("[Toy Story, Heat]", ["Toy Story", "Heat"], False),
    ("['Toy Story', 'Heat', 'Casi", ["Toy Story", "Heat", "Casi"], False),
    ("Toy Story, Heat, Casino", ["Toy Story", "Heat", "Casino"], False),
    # Prose: the titles it names, in order.
    ('The next item the user might interact with is "Soul Food (1997)".', ["Soul Food (1997)"], False),
    ("The next item the user might interact with is Soul Food (1997).", ["Soul Food (1997)."], False),
    ('I recommend "Heat" and then \u201cCasino (1995)\u201d.', ["Heat", "Casino (1995)"], False),
    ("Try 'Schindler's List' or 'Heat'.", ["Schindler's List", "Heat"], False),
    ('Based on the history I suggest "drama".', ["drama"], False),  # quoted: a mention, matched or not
    ("Sure! I think you will like [\"Heat\", \"Casino\"] a lot.", ["Heat", "Casino"], False),
    ("Here are my picks: 1. Toy Story 2. Heat 3. Casino", ["Toy Story", "Heat", "Casino"], False),
    ("I would recommend Heat, Casino and Fargo.", ["Heat", "Casino", "Fargo."], False),
    ("1. Heat - a great thriller\n2. Casino", ["Heat", "Casino"], False),
    ("1. Toy Story [Animation, Comedy]\n2. Heat", ["Toy Story", "Heat"], False),
    ("Fargo (1996), Godfather, The (1972), Toy Story (1995)",
     ["Fargo (1996)", "Godfather, The (1972)", "Toy Story (1995)"], False),
    # SmolLM2's own answer: a preamble, then a comma list whose opening quote never closes.
    ('The user has interacted with the following items in chronological order: "Blob, The (1958), '
     "Cat People (1982), Hellraiser: Bloodline (1996)",
     ["Blob, The (1958)", "Cat People (1982)", "Hellraiser: Bloodline (1996)"], False),
    ('The next item that the user might interact with is "The (1996)"', ["The (1996)"], False),
    # Nothing to read out of a sentence: it is one mention, as a whole.
    ("I'm sorry, I can't recommend movies.", ["I'm sorry, I can't recommend movies."], False),
    ("[]", [], False),
    ("", [], False),
])
def test_read_ranking(matcher, text, mentions, well_formed):
    assert read_ranking(text, matcher) == (mentions, well_formed)


def test_a_title_quoted_in_a_sentence_is_kept_but_not_well_formed(matcher):
    p = parse_ranking('The next item the user might interact with is "Soul Food (1997)".', matcher)
    assert p.value == [SOUL_FOOD] and p.hallucinated == 0 and not p.parse_failed
    assert not p.well_formed  # the strict view scores it 0 (tests/test_metrics.py)


def test_well_formed_lists_are_the_same_in_both_views(matcher):
    for text in ("['Toy Story', 'Heat']", "1. Toy Story\n2. Heat"):
        p = parse_ranking(text, matcher)
        assert p.value == [1, 273] and p.well_formed, text


def test_prose_keeps_the_counting_contract(matcher):
    # Two quoted titles in order; a quoted word that names nothing is hallucinated, not dropped.
    text = 'The user liked "Heat", so I suggest "Soul Food (1997)", "Heat" again and a "drama".'
    p = parse_ranking(text, matcher, candidates=[SOUL_FOOD, 273])
    assert p.value == [273, SOUL_FOOD]
    assert (p.hallucinated, p.duplicates, p.out_of_candidates) == (1, 1, 0)
    assert len(p.value) + p.hallucinated + p.duplicates + p.out_of_candidates == len(read_ranking(text, matcher)[0])
    assert not p.well_formed


def test_comma_lines_split_only_into_catalog_titles(matcher):
    p = parse_ranking("item_12 , item_45", matcher)
    assert p.value == [12, 45] and not p.well_formed  # a comma line is not one of the list forms
    p = parse_ranking("Toy Story, Heat, Blorp", matcher)
    assert p.value == [1, 273] and p.hallucinated == 1


def test_well_formed_is_recorded_only_when_false():
    kept = Prediction([1, 273])
    assert "well_formed" not in kept.to_json()
    assert Prediction.from_json(kept.to_json()) == kept
    rejected = Prediction([SOUL_FOOD], well_formed=False)
    assert rejected.to_json()["well_formed"] is False
    assert Prediction.from_json(rejected.to_json()) == rejected
    old = {"value": [3], "parse_failed": False, "hallucinated": 0, "out_of_candidates": 0, "duplicates": 0}
    assert Prediction.from_json(old).well_formed  # records written before the strict view


# --- free text -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Great fit and comfy", "Great fit and comfy"),
    ("Summary: Great fit", "Great fit"),
    ('"Love this dress!"', "Love this dress!"),
    ('"Soft but thin".', "Soft but thin"),
    ("**Summary:** Runs small", "Runs small"),
    ("Short summary: 'Cute but small'", "Cute but small"),
    ("Review summary (4 words): Beautiful but too long", "Beautiful but too long"),
    ('**"Great jeans"**', "Great jeans"),
    ('Sure! Here is a short summary:\n\n"Perfect summer top"', "Perfect summer top"),
    ("Summary:\nNice material", "Nice material"),
    ("### Response:\nToo tight", "Too tight"),
    ("Explanation: The user loves thrillers, so Heat is a great pick.\nIt also stars De Niro.",
     "The user loves thrillers, so Heat is a great pick."),
])
def test_parse_text(text, expected):
    p = parse_text(text)
    assert p.value == expected and not p.parse_failed


@pytest.mark.parametrize("text", ["", "   \n ", "Answer:", '""'])
def test_parse_text_failures(text):
    p = parse_text(text)
    assert p.parse_failed and p.value is None
