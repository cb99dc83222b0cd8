import json
import math

import numpy as np
import pytest

from llmrec.reporting.check import default_tolerance
from llmrec.errors import LLMRecError
from llmrec.metrics import (FAMILIES, KINDS, LOWER_IS_BETTER, METRICS, ROUGE_NAMES, UnicodeTokenizer,
                            bleu_from_stats, bleu_stats, clamp_rating, corpus_bleu, family, hit_at_k, mae,
                            ndcg_at_k, p5_rouge, per_sample_scores, rank_of, reciprocal_rank, resampled_sums,
                            rmse, rouge_f1, score)
from llmrec.reporting.report import is_percent_scale
from llmrec.types import Prediction


# --- building blocks ---------------------------------------------------------------------------

def test_rmse_mae_by_hand():
    # errors 1, -2, 0.5 -> squares 1, 4, 0.25 (mean 1.75); absolute 1, 2, 0.5 (mean 3.5 / 3)
    assert rmse([4, 1, 3.5], [3, 3, 3]) == pytest.approx(math.sqrt(1.75))
    assert mae([4, 1, 3.5], [3, 3, 3]) == pytest.approx(3.5 / 3)
    assert math.isnan(rmse([], []))


def test_clamp_rating():
    assert [clamp_rating(x) for x in (-3, 0.5, 1, 3.7, 5, 9)] == [1, 1, 1, 3.7, 5, 5]


def test_rank_and_ranking_metrics_by_hand():
    assert rank_of([5, 7, 9], 7) == 2
    assert rank_of([5, 7, 9], 8) is None
    assert rank_of([], 8) is None and rank_of(None, 8) is None
    assert rank_of([7, 7], 7) == 1  # first occurrence
    assert hit_at_k(1, 1) == 1 and hit_at_k(2, 1) == 0 and hit_at_k(None, 10) == 0
    assert hit_at_k(10, 10) == 1 and hit_at_k(11, 10) == 0
    assert ndcg_at_k(1, 5) == 1.0  # 1/log2(2)
    assert ndcg_at_k(3, 5) == pytest.approx(0.5)  # 1/log2(4)
    assert ndcg_at_k(7, 10) == pytest.approx(1 / 3)  # 1/log2(8)
    assert ndcg_at_k(6, 5) == 0.0 and ndcg_at_k(None, 10) == 0.0
    assert reciprocal_rank(4) == 0.25 and reciprocal_rank(None) == 0.0


def test_bleu_stats_of_one_pair():
    # hyp: the cat sat on the mat / ref: the cat is on the mat
    # 1-grams: the x2, cat, on, mat match (5 of 6); 2-grams: the cat, on the, the mat (3 of 5);
    # 3-grams: on the mat (1 of 4); 4-grams: none (0 of 3); lengths 6 and 6.
    stats = bleu_stats("the cat sat on the mat", "the cat is on the mat")
    assert stats.tolist() == [5, 3, 1, 0, 6, 5, 4, 3, 6, 6]
    # Matches are clipped by the reference counts: "the" x3 against one "the" counts once.
    assert bleu_stats("the the the", "the cat", max_order=1).tolist() == [1, 3, 3, 2]


def test_corpus_bleu_worked_example_with_brevity_penalty():
    hyps = ["the cat sat on the mat", "the dog ran in the park"]
    refs = ["the cat is on the mat", "the dog ran in a big park today"]
    # Pair 2: 1-grams the (clipped to 1), dog, ran, in, park = 5 of 6; 2-grams the dog, dog ran,
    # ran in = 3 of 5; 3-grams the dog ran, dog ran in = 2 of 4; 4-grams the dog ran in = 1 of 3.
    # Corpus: matches 10, 6, 3, 1; possible 12, 10, 8, 6; c = 12 < r = 6 + 8 = 14.
    # Precisions 10/12 * 6/10 * 3/8 * 1/6 = 1/32; geometric mean (1/32)^(1/4) = 2^(-5/4).
    penalty = math.exp(1 - 14 / 12)
    assert corpus_bleu(hyps, refs, 4) == pytest.approx(2 ** -1.25 * penalty * 100)  # 0.42045 * 0.84648
    assert corpus_bleu(hyps, refs, 1) == pytest.approx(10 / 12 * penalty * 100)  # 70.54
    assert corpus_bleu(hyps, refs, 4) == pytest.approx(35.5902, abs=1e-4)


def test_corpus_bleu_zero_precision_and_no_penalty_when_longer():
    # The first pair alone has no matching 4-gram: unsmoothed BLEU-4 is 0, BLEU-1 is 5/6 (c = r).
    assert corpus_bleu(["the cat sat on the mat"], ["the cat is on the mat"], 4) == 0.0
    assert corpus_bleu(["the cat sat on the mat"], ["the cat is on the mat"], 1) == pytest.approx(500 / 6)
    # Longer hypothesis (c = 4 > r = 2): no brevity penalty, precision 2/4.
    assert corpus_bleu(["a b c d"], ["a b"], 1) == pytest.approx(50.0)
    # Hypotheses shorter than the order give no possible 4-grams: precision 0, BLEU-4 0.
    assert corpus_bleu(["a b"], ["a b"], 4) == 0.0
    assert corpus_bleu(["a b"], ["a b"], 1) == pytest.approx(100.0)
    assert corpus_bleu([""], ["a b"], 1) == 0.0


def test_corpus_bleu_agrees_with_nltk_on_ordinary_sentences():
    # nltk follows the same definition whenever every hypothesis has >= 4 tokens (it differs only
    # in how it treats hypotheses shorter than the n-gram order).
    from nltk.translate.bleu_score import corpus_bleu as nltk_bleu

    rng = np.random.default_rng(3)
    vocab = "a b c d e f".split()
    hyps = [" ".join(rng.choice(vocab, rng.integers(4, 12))) for _ in range(20)]
    refs = [" ".join(rng.choice(vocab, rng.integers(2, 12))) for _ in range(20)]
    expected = nltk_bleu([[r.split()] for r in refs], [h.split() for h in hyps]) * 100
    assert expected > 0
    assert corpus_bleu(hyps, refs, 4) == pytest.approx(expected)
    expected1 = nltk_bleu([[r.split()] for r in refs], [h.split() for h in hyps], weights=(1.0,)) * 100
    assert corpus_bleu(hyps, refs, 1) == pytest.approx(expected1)


def test_bleu_from_stats_is_vectorised_over_rows():
    a = bleu_stats("the cat sat on the mat", "the cat is on the mat")
    b = bleu_stats("the dog ran in the park", "the dog ran in a big park today")
    rows = np.stack([a, a + b, b])
    out = bleu_from_stats(rows, 4)
    assert out.shape == (3,)
    assert out[0] == 0.0
    assert out[1] == pytest.approx(corpus_bleu(["the cat sat on the mat", "the dog ran in the park"],
                                               ["the cat is on the mat", "the dog ran in a big park today"]))


def test_rouge_from_rouge_score_by_hand():
    # the cat sat on the mat / the cat is on the mat: 1-gram overlap 5 of 6 each way -> F1 5/6;
    # 2-gram overlap 3 of 5 -> 3/5; LCS "the cat on the mat" = 5 -> 5/6.
    r = rouge_f1("the cat sat on the mat", "the cat is on the mat")
    assert r["rouge-1"] == pytest.approx(500 / 6)
    assert r["rouge-2"] == pytest.approx(60.0)
    assert r["rouge-l"] == pytest.approx(500 / 6)
    # Counts, not sets: "the the the" vs "the cat" overlaps once: P 1/3, R 1/2, F1 = 0.4.
    assert rouge_f1("the the the", "the cat")["rouge-1"] == pytest.approx(40.0)
    assert rouge_f1("", "the cat") == {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
    # rouge-score lowercases and drops punctuation.
    assert rouge_f1("Great dress!", "great dress") == {"rouge-1": 100.0, "rouge-2": 100.0, "rouge-l": 100.0}


ENGLISH = [
    ("The cat sat on the mat.", "the cat is on the mat"),
    ("I LOVE this dress!!! Fits true-to-size, 5'4\" & 120 lbs.", "Love the dress; fits true to size (I'm 5'4)."),
    ("snake_case words\tand tabs\nnewlines", "Snake case words and\ttabs"),
    ("Size 10 = perfect; size 8... too small?", "size 8 is too small, 10 is perfect"),
    ("", "nothing here"),
    ("!!! ... ???", "only punctuation"),
]


def test_unicode_tokenizer_keeps_rouge_score_behaviour_on_ascii():
    from rouge_score import rouge_scorer, tokenizers

    stock_tokenizer = tokenizers.DefaultTokenizer(use_stemmer=False)
    stock = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    for hyp, ref in ENGLISH:
        for text in (hyp, ref):
            assert UnicodeTokenizer().tokenize(text) == stock_tokenizer.tokenize(text), text
        expected = stock.score(ref, hyp)
        ours = rouge_f1(hyp, ref)
        for name, key in (("rouge-1", "rouge1"), ("rouge-2", "rouge2"), ("rouge-l", "rougeL")):
            assert ours[name] == expected[key].fmeasure * 100, (hyp, name)


def test_unicode_tokenizer_on_other_scripts():
    tokenize = UnicodeTokenizer().tokenize
    # Accented letters are kept (rouge-score alone gives "caf", "au", "lait"), whatever the normal form.
    assert tokenize("Café au lait") == ["café", "au", "lait"]
    assert tokenize("cafe\u0301") == tokenize("caf\u00e9") == ["caf\u00e9"]
    assert tokenize("Naïve CRÈME brûlée") == ["naïve", "crème", "brûlée"]
    # Han, Hiragana and Katakana: one token per character; Hangul and Devanagari words stay whole.
    assert tokenize("这件衣服，很好看。") == ["这", "件", "衣", "服", "很", "好", "看"]
    assert tokenize("このドレス") == ["こ", "の", "ド", "レ", "ス"]
    assert tokenize("정말 예뻐요") == ["정말", "예뻐요"]
    assert tokenize("बहुत सुंदर") == ["बहुत", "सुंदर"]
    assert tokenize("Size M 很合身") == ["size", "m", "很", "合", "身"]


def test_rouge_score_names_on_unicode_text():
    # Identical Chinese text: 100 (rouge-score's own tokenizer finds no token and gives 0).
    assert rouge_f1("这件衣服很好看", "这件衣服很好看") == {"rouge-1": 100.0, "rouge-2": 100.0, "rouge-l": 100.0}
    # 衣服很好 vs 衣服好看: unigrams 衣 服 好 match, 3 of 4 each way -> 75; bigrams 衣服 only, 1 of 3 -> 33.33;
    # LCS 衣服好 = 3 of 4 -> 75.
    r = rouge_f1("衣服很好", "衣服好看")
    assert r["rouge-1"] == pytest.approx(75.0)
    assert r["rouge-2"] == pytest.approx(100 / 3)
    assert r["rouge-l"] == pytest.approx(75.0)
    # Accented words match, composed or not, and do not match their unaccented spelling.
    assert rouge_f1("un café noir", "un cafe\u0301 noir")["rouge-1"] == pytest.approx(100.0)
    assert rouge_f1("un café noir", "un cafe noir")["rouge-1"] == pytest.approx(200 / 3)  # 2 of 3 each way


# --- P5's ROUGE (TF-NMT rouge(): split(" "), n-gram sets, ROUGE-L with beta = P/R) ------------------

def test_p5_rouge_by_hand():
    # the cat sat on the mat / the cat is on the mat. Sets of unigrams: {the cat sat on mat} and
    # {the cat is on mat}, 4 shared of 5 each -> 80 (counts would give 5/6). Bigrams: 3 of 5 each -> 60.
    # LCS "the cat on the mat" = 5 of 6 both ways: P = R, beta = 1, F = 5/6.
    r = p5_rouge("the cat sat on the mat", "the cat is on the mat")
    assert r["p5-rouge-1"] == pytest.approx(80.0)
    assert r["p5-rouge-2"] == pytest.approx(60.0)
    assert r["p5-rouge-l"] == pytest.approx(500 / 6)


def test_p5_rouge_counts_sets_not_occurrences():
    # the the the / the cat: unigram sets {the} and {the, cat}: P 1/1, R 1/2, F = 2(1/2)/(3/2) = 2/3.
    # No shared bigram. LCS = 1: R 1/2, P 1/3, beta = P/R = 2/3, beta^2 = 4/9:
    # F = (13/9)(1/2)(1/3) / (1/2 + (4/9)(1/3)) = (13/54) / (35/54) = 13/35 (F1 would be 0.4).
    r = p5_rouge("the the the", "the cat")
    assert r["p5-rouge-1"] == pytest.approx(200 / 3)
    assert r["p5-rouge-2"] == 0.0
    assert r["p5-rouge-l"] == pytest.approx(1300 / 35)


def test_p5_rouge_keeps_case_and_punctuation():
    assert p5_rouge("Great dress!", "great dress") == {"p5-rouge-1": 0.0, "p5-rouge-2": 0.0, "p5-rouge-l": 0.0}
    # Love it, great fit / love it great fit: tokens "Love" "it," differ from "love" "it"; unigrams
    # great, fit shared, 2 of 4 each -> 50; bigrams (great, fit) 1 of 3 each -> 33.33; LCS 2 of 4 -> 50.
    r = p5_rouge("Love it, great fit", "love it great fit")
    assert r["p5-rouge-1"] == pytest.approx(50.0)
    assert r["p5-rouge-2"] == pytest.approx(100 / 3)
    assert r["p5-rouge-l"] == pytest.approx(50.0)


def test_p5_rouge_double_space_is_an_empty_token():
    # "a  b".split(" ") = ["a", "", "b"] against ["a", "b"]: unigram sets of 3 and 2 share 2:
    # P 2/3, R 1, F = 2(2/3)/(5/3) = 4/5. Bigrams (a, "") and ("", b) vs (a, b): none.
    # LCS 2: R 1, P 2/3, beta^2 = 4/9: F = (13/9)(2/3) / (1 + (4/9)(2/3)) = (26/27) / (35/27) = 26/35.
    r = p5_rouge("a  b", "a b")
    assert r["p5-rouge-1"] == pytest.approx(80.0)
    assert r["p5-rouge-2"] == 0.0
    assert r["p5-rouge-l"] == pytest.approx(2600 / 35)


def test_p5_rouge_of_empty_texts():
    # The empty text is one empty token [""]: against ["great", "fit"] nothing is shared.
    zero = {"p5-rouge-1": 0.0, "p5-rouge-2": 0.0, "p5-rouge-l": 0.0}
    assert p5_rouge("", "great fit") == zero
    assert p5_rouge("great fit", "") == zero
    # Both empty: the unigram sets {""} match (100), there are no bigrams (0), LCS 1 of 1 (100).
    assert p5_rouge("", "") == {"p5-rouge-1": 100.0, "p5-rouge-2": 0.0, "p5-rouge-l": 100.0}
    # The empty token matches the one a double space leaves in "great  fit" = ["great", "", "fit"]:
    # unigrams P 1, R 1/3, F = 2(1/3)/(4/3) = 1/2; LCS 1: R 1/3, P 1, beta = 3:
    # F = 10 (1/3) / (1/3 + 9) = 10/28.
    r = p5_rouge("", "great  fit")
    assert r["p5-rouge-1"] == pytest.approx(50.0)
    assert r["p5-rouge-2"] == 0.0
    assert r["p5-rouge-l"] == pytest.approx(1000 / 28)


def test_p5_rouge_l_uses_beta_p_over_r_not_f1():
    # a b / a b c d: LCS 2, P 1, R 1/2, beta = 2: F = (1 + 4)(1/2)(1) / (1/2 + 4) = 5/9, where F1 = 2/3.
    # With beta = P/R the F is symmetric in P and R, so swapping the texts gives 5/9 too.
    assert p5_rouge("a b", "a b c d")["p5-rouge-l"] == pytest.approx(500 / 9)
    assert p5_rouge("a b c d", "a b")["p5-rouge-l"] == pytest.approx(500 / 9)
    assert rouge_f1("a b", "a b c d")["rouge-l"] == pytest.approx(200 / 3)
    # Unigrams are F1 in both: sets {a, b} in {a, b, c, d}: P 1, R 1/2 -> 2/3.
    assert p5_rouge("a b", "a b c d")["p5-rouge-1"] == pytest.approx(200 / 3)


def test_text_metrics_are_higher_is_better_on_the_percent_scale():
    for name in METRICS["text"]:
        if name == "parse_failure_rate":
            continue
        assert is_percent_scale(name) and default_tolerance(name) == 0.5, name
        assert name not in LOWER_IS_BETTER, name
    assert set(ROUGE_NAMES) <= set(METRICS["text"])


# --- score(): every kind against hand-computed values ------------------------------------------

def test_score_rating_by_hand():
    preds = [Prediction(4.5), Prediction(7.0), Prediction(None, parse_failed=True), Prediction(0.0)]
    refs = [3.0, 4.0, 5.0, 2.0]
    out = score("rating", preds, refs, n_boot=200)
    # Parsed and clamped: 4.5, 5, 1 against 3, 4, 2 -> errors 1.5, 1, -1.
    assert out["rmse"]["value"] == pytest.approx(math.sqrt((2.25 + 1 + 1) / 3))
    assert out["mae"]["value"] == pytest.approx(3.5 / 3)
    assert out["coverage"]["value"] == 0.75
    assert out["parse_failure_rate"]["value"] == 0.25
    assert set(out) == set(METRICS["rating"])
    json.dumps(out)  # plain floats


def test_score_rating_without_any_parse_is_nan_not_zero():
    out = score("rating", [Prediction(None, parse_failed=True)] * 3, [3.0, 4.0, 5.0], n_boot=50)
    assert math.isnan(out["rmse"]["value"]) and out["coverage"]["value"] == 0.0
    assert out["parse_failure_rate"] == {"value": 1.0, "ci": [1.0, 1.0]}


def _ranking_fixture():
    twelve = list(range(100, 112))
    preds = [
        Prediction([5, 7, 9], hallucinated=1, duplicates=1),  # rank 2
        Prediction(twelve),  # target 107 at rank 8
        Prediction([], parse_failed=True),  # counted, scores 0
        Prediction([4], out_of_candidates=2),  # rank 1
        Prediction(twelve),  # target 111 at rank 12: only MRR
    ]
    return preds, [7, 107, 3, 4, 111]


def test_score_ranking_by_hand():
    preds, refs = _ranking_fixture()
    out = score("ranking", preds, refs, n_boot=200)
    assert out["hr@1"]["value"] == pytest.approx(1 / 5)
    assert out["hr@5"]["value"] == pytest.approx(2 / 5)
    assert out["hr@10"]["value"] == pytest.approx(3 / 5)
    assert out["ndcg@5"]["value"] == pytest.approx((1 / math.log2(3) + 1) / 5)
    assert out["ndcg@10"]["value"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(9) + 1) / 5)
    assert out["mrr"]["value"] == pytest.approx((1 / 2 + 1 / 8 + 0 + 1 + 1 / 12) / 5)
    assert out["parse_failure_rate"]["value"] == pytest.approx(1 / 5)
    # Mentions: kept 3 + 12 + 0 + 1 + 12 = 28, plus 1 hallucinated, 2 out of candidates, 1 duplicate = 32.
    assert out["hallucination_rate"]["value"] == pytest.approx(1 / 32)
    assert out["out_of_candidate_rate"]["value"] == pytest.approx(2 / 32)
    assert out["duplicate_rate"]["value"] == pytest.approx(1 / 32)
    assert set(out) == set(METRICS["ranking"])
    # Every answer here is a list (as a classic model's are): the strict view is the same.
    for name in ("hr@1", "hr@5", "hr@10", "ndcg@5", "ndcg@10", "mrr", "parse_failure_rate"):
        assert out[f"strict_{name}"] == out[name], name


def _two_views_fixture():
    preds = [
        Prediction([7, 5]),  # a well-formed list: rank 1 in both views
        Prediction([3, 9, 8], well_formed=False),  # titles read out of prose: rank 3, strict 0
        Prediction([], parse_failed=True, well_formed=False),  # nothing at all: 0 in both, a failure in both
        Prediction(list(range(20, 32))),  # well-formed, target 29 at rank 10
        Prediction([4], hallucinated=1, well_formed=False),  # prose that misses
    ]
    return preds, [7, 8, 1, 29, 6]


def test_score_ranking_two_views_by_hand():
    preds, refs = _two_views_fixture()
    out = score("ranking", preds, refs, n_boot=200)
    assert out["hr@10"]["value"] == pytest.approx(3 / 5)  # ranks 1, 3, 10
    assert out["strict_hr@10"]["value"] == pytest.approx(2 / 5)  # ranks 1, 10: the prose answer scores 0
    assert out["hr@5"]["value"] == pytest.approx(2 / 5) and out["strict_hr@5"]["value"] == pytest.approx(1 / 5)
    assert out["hr@1"]["value"] == out["strict_hr@1"]["value"] == pytest.approx(1 / 5)
    assert out["mrr"]["value"] == pytest.approx((1 + 1 / 3 + 1 / 10) / 5)
    assert out["strict_mrr"]["value"] == pytest.approx((1 + 1 / 10) / 5)
    assert out["ndcg@10"]["value"] == pytest.approx((1 + 0.5 + 1 / math.log2(11)) / 5)
    assert out["strict_ndcg@10"]["value"] == pytest.approx((1 + 1 / math.log2(11)) / 5)
    assert out["strict_ndcg@5"]["value"] == pytest.approx(1 / 5)
    assert out["parse_failure_rate"]["value"] == pytest.approx(1 / 5)
    assert out["strict_parse_failure_rate"]["value"] == pytest.approx(3 / 5)
    assert out["hallucination_rate"]["value"] == pytest.approx(1 / 19)  # kept 2 + 3 + 0 + 12 + 1, + 1
    lo, hi = out["strict_hr@10"]["ci"]
    assert 0 <= lo <= 2 / 5 <= hi <= 1
    rows = [per_sample_scores("ranking", p, t) for p, t in zip(preds, refs)]
    assert [r["strict_hr@10"] for r in rows] == [1, 0, 0, 1, 0] and [r["hr@10"] for r in rows] == [1, 1, 0, 1, 0]
    for name in ("strict_hr@1", "strict_hr@5", "strict_hr@10", "strict_ndcg@5", "strict_ndcg@10", "strict_mrr"):
        assert np.mean([r[name] for r in rows]) == pytest.approx(out[name]["value"]), name


def test_parse_failure_scores_zero_even_if_a_value_is_left():
    out = per_sample_scores("ranking", Prediction([7], parse_failed=True), 7)
    assert set(out.values()) == {0.0}


def test_rates_are_zero_without_mentions():
    out = score("ranking", [Prediction([], parse_failed=True)], [1], n_boot=20)
    assert out["hallucination_rate"]["value"] == 0.0 and out["duplicate_rate"]["value"] == 0.0


def test_score_text_by_hand_counts_failures_as_empty():
    preds = [Prediction("the cat sat on the mat"), Prediction("the dog ran in the park"),
             Prediction(None, parse_failed=True)]
    refs = ["the cat is on the mat", "the dog ran in a big park today", "great fit"]
    out = score("text", preds, refs, n_boot=100)
    # The failure adds no hypothesis tokens but 2 reference tokens: c = 12, r = 16.
    penalty = math.exp(1 - 16 / 12)
    assert out["bleu-4"]["value"] == pytest.approx(2 ** -1.25 * penalty * 100)
    assert out["bleu-1"]["value"] == pytest.approx(10 / 12 * penalty * 100)
    r2 = rouge_f1("the dog ran in the park", "the dog ran in a big park today")["rouge-1"]
    assert out["rouge-1"]["value"] == pytest.approx((500 / 6 + r2 + 0) / 3)
    # P5 unigram sets of pair 2: {the dog ran in park} all in the 8 of the reference: P 1, R 5/8,
    # F = 2(5/8)/(13/8) = 10/13. Pair 1 gives 80 (test_p5_rouge_by_hand), the failure 0.
    assert out["p5-rouge-1"]["value"] == pytest.approx((80 + 1000 / 13 + 0) / 3)
    assert out["parse_failure_rate"]["value"] == pytest.approx(1 / 3)
    assert set(out) == set(METRICS["text"])


def test_per_sample_scores_average_to_score():
    preds, refs = _ranking_fixture()
    rows = [per_sample_scores("ranking", p, t) for p, t in zip(preds, refs)]
    assert rows[0]["ndcg@10"] == pytest.approx(1 / math.log2(3))
    out = score("ranking", preds, refs, n_boot=10)
    for name in ("hr@1", "hr@5", "hr@10", "ndcg@5", "ndcg@10", "mrr"):
        assert np.mean([r[name] for r in rows]) == pytest.approx(out[name]["value"])
    assert per_sample_scores("rating", Prediction(6.0), 4.0) == {"parsed": 1.0, "abs_error": 1.0,
                                                                "squared_error": 1.0}
    assert per_sample_scores("rating", Prediction(None, parse_failed=True), 4.0) == {"parsed": 0.0}
    text = per_sample_scores("text", Prediction("the cat sat on the mat"), "the cat is on the mat")
    assert text["bleu-1"] == pytest.approx(500 / 6) and text["bleu-4"] == 0.0
    assert set(ROUGE_NAMES) <= set(text)
    assert text["p5-rouge-1"] == pytest.approx(80.0) and text["rouge-1"] == pytest.approx(500 / 6)
    preds = [Prediction("the cat sat on the mat"), Prediction("a  b"), Prediction(None, parse_failed=True)]
    refs = ["the cat is on the mat", "a b", "great fit"]
    out = score("text", preds, refs, n_boot=10)
    for name in ROUGE_NAMES:
        rows = [per_sample_scores("text", p, r)[name] for p, r in zip(preds, refs)]
        assert np.mean(rows) == pytest.approx(out[name]["value"]), name


def test_lower_is_better_names():
    assert LOWER_IS_BETTER == {"rmse", "mae", "parse_failure_rate", "hallucination_rate",
                               "out_of_candidate_rate", "duplicate_rate", "strict_parse_failure_rate"}
    every = {m for names in METRICS.values() for m in names}
    assert {m for m in every if m.endswith("_rate")} <= LOWER_IS_BETTER


FAMILY_CASES = {
    "rating": ([Prediction(4.5), Prediction(None, parse_failed=True)], [4.0, 2.0]),
    "ranking": ([Prediction([3, 7, 1]), Prediction([2], hallucinated=1, well_formed=False)], [7, 5]),
    "text": ([Prediction("a good fit"), Prediction(None, parse_failed=True)], ["a great fit", "runs small"]),
}


@pytest.mark.parametrize("kind", sorted(FAMILY_CASES))
def test_each_family_computes_exactly_its_metrics(kind):
    metrics = family(kind)
    entry = FAMILIES.entry(kind)
    assert entry.value is metrics and metrics.name == kind and entry.description == metrics.description
    assert metrics.metrics == METRICS[kind] and metrics.lower_is_better <= set(metrics.metrics)
    assert metrics.lower_is_better == LOWER_IS_BETTER & set(metrics.metrics)
    predictions, references = FAMILY_CASES[kind]
    stats = metrics.to_stats(predictions, references)
    assert stats.shape[0] == len(predictions)
    values = metrics.to_values(stats.sum(axis=0, keepdims=True))
    assert set(values) == set(metrics.metrics)
    assert {k: v["value"] for k, v in score(kind, predictions, references, n_boot=0).items()} == pytest.approx(
        {k: float(v[0]) for k, v in values.items()}, nan_ok=True)
    for p, r in zip(predictions, references):
        assert metrics.per_sample(p, r) == per_sample_scores(kind, p, r)


def test_families_are_the_task_kinds_and_a_typo_names_the_nearest():
    assert FAMILIES.names() == list(KINDS) == ["rating", "ranking", "text"]
    with pytest.raises(LLMRecError, match=r"unknown metric family 'rankng': did you mean ranking\? "
                                          r"\(expected one of: rating, ranking, text\)"):
        family("rankng")
    with pytest.raises(LLMRecError, match="unknown metric family 'bleu'") as error:
        family("bleu")
    assert "did you mean" not in str(error.value) and "\n" not in str(error.value)


def test_bad_input():
    with pytest.raises(LLMRecError, match="unknown metric family 'ratings': did you mean rating"):
        score("ratings", [], [])
    with pytest.raises(ValueError, match="references"):
        score("rating", [Prediction(3.0)], [])


# --- bootstrap -----------------------------------------------------------------------------------

def _noisy_ranking(n=300, seed=5):
    rng = np.random.default_rng(seed)
    preds = [Prediction(rng.permutation(30)[:10].tolist()) for _ in range(n)]
    refs = rng.integers(0, 30, n).tolist()
    return preds, refs


def test_bootstrap_ci_contains_value_and_is_deterministic():
    preds, refs = _noisy_ranking()
    a = score("ranking", preds, refs, seed=1)
    b = score("ranking", preds, refs, seed=1)
    c = score("ranking", preds, refs, seed=2)
    assert a == b
    assert a["hr@10"]["ci"] != c["hr@10"]["ci"]
    for name in ("hr@5", "hr@10", "ndcg@10", "mrr"):
        lo, hi = a[name]["ci"]
        assert lo < a[name]["value"] < hi
        assert hi - lo < 0.2  # about 4 standard errors of a mean of 300 bounded values


def test_bootstrap_ci_of_rating_contains_value():
    rng = np.random.default_rng(0)
    refs = rng.integers(1, 6, 200).astype(float).tolist()
    preds = [Prediction(r + rng.normal(0, 1)) for r in refs]
    out = score("rating", preds, refs, seed=0)
    for name in ("rmse", "mae"):
        lo, hi = out[name]["ci"]
        assert lo < out[name]["value"] < hi


def test_bootstrap_is_degenerate_when_samples_are_equal():
    out = score("ranking", [Prediction([3, 1, 2])] * 7, [1] * 7)
    assert out["ndcg@10"]["value"] == pytest.approx(1 / math.log2(3))
    for name, entry in out.items():
        assert entry["ci"] == [entry["value"], entry["value"]], name
    text = score("text", [Prediction("the cat sat on the mat")] * 9, ["the cat is on the mat"] * 9)
    for name, entry in text.items():
        assert entry["ci"] == [entry["value"], entry["value"]], name


def test_resampled_sums_equal_explicit_resamples():
    stats = np.arange(24, dtype=float).reshape(8, 3) ** 1.5
    sums = resampled_sums(stats, n_boot=50, seed=4)
    draws = np.random.default_rng(4).integers(0, 8, size=(50, 8))
    assert np.allclose(sums, stats[draws].sum(axis=1))


def test_resampled_sums_in_chunks():
    # 5000 samples are resampled 400 at a time; every row must still be an independent resample
    # of all samples: totals of n draws whose mean is the data mean, rows all different.
    stats = np.stack([np.ones(5000), np.arange(5000.0)], axis=1)
    sums = resampled_sums(stats, n_boot=1000, seed=0)
    assert sums.shape == (1000, 2) and np.all(sums[:, 0] == 5000)
    assert len(np.unique(sums[:, 1])) == 1000
    means = sums[:, 1] / 5000
    assert abs(means.mean() - 2499.5) < 3 * 1443 / math.sqrt(5000 * 1000)  # sd of the data is 1443
    assert 1443 / math.sqrt(5000) * 0.9 < means.std() < 1443 / math.sqrt(5000) * 1.1
