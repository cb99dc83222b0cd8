"""Text generation: BLEU exactly as TF-NMT compute_bleu (used by P5 / LLMRec); ROUGE two ways.

rouge-* are rouge-score's F1 on Unicode tokens; p5-rouge-* are the ROUGE of P5 and LLMRec (TF-NMT
`rouge()`), for comparison with their published numbers. All are x100.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Sequence

import numpy as np

from llmrec.metrics.family import MetricFamily
from llmrec.types import Prediction

BLEU_ORDER = 4

def _ngrams(tokens: list[str], order: int) -> Counter:
    return Counter(tuple(tokens[i:i + order]) for i in range(len(tokens) - order + 1))


def bleu_stats(hypothesis: str, reference: str, max_order: int = BLEU_ORDER) -> np.ndarray:
    """Sufficient statistics of one sentence pair on whitespace tokens:
    [matches_1..matches_N, possible_1..possible_N, hypothesis_length, reference_length].
    Matches are clipped by the reference counts; possible_n = max(0, len(hyp) - n + 1)."""
    hyp, ref = (hypothesis or "").split(), (reference or "").split()
    matches = [sum((_ngrams(hyp, n) & _ngrams(ref, n)).values()) for n in range(1, max_order + 1)]
    possible = [max(0, len(hyp) - n + 1) for n in range(1, max_order + 1)]
    return np.array([*matches, *possible, len(hyp), len(ref)], dtype=float)


def bleu_from_stats(sums: np.ndarray, max_order: int = BLEU_ORDER) -> np.ndarray:
    """Corpus BLEU (x100) from summed `bleu_stats` (rows of a 2-D array, or one 1-D vector).

    Only the first `max_order` orders are used, so BLEU-1 and BLEU-4 share one statistics array
    computed with the larger order. No smoothing: any zero precision gives 0."""
    sums = np.atleast_2d(np.asarray(sums, dtype=float))
    stats_order = (sums.shape[1] - 2) // 2
    matches = sums[:, :max_order]
    possible = sums[:, stats_order:stats_order + max_order]
    hyp_len, ref_len = sums[:, -2], sums[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        precisions = np.where(possible > 0, matches / np.where(possible > 0, possible, 1), 0.0)
        all_positive = (precisions > 0).all(axis=1)
        log_mean = np.log(np.where(precisions > 0, precisions, 1)).mean(axis=1)
        geo_mean = np.where(all_positive, np.exp(log_mean), 0.0)
        # Brevity penalty exp(1 - r/c) when the hypotheses are shorter than the references (c < r).
        penalty = np.where(hyp_len < ref_len, np.exp(1 - ref_len / np.where(hyp_len > 0, hyp_len, 1)), 1.0)
    return np.where(hyp_len > 0, geo_mean * penalty, 0.0) * 100


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], max_order: int = BLEU_ORDER) -> float:
    """Corpus-level BLEU-`max_order` (x100), one reference per hypothesis."""
    if not hypotheses:
        return math.nan
    stats = sum(bleu_stats(h, r, max_order) for h, r in zip(hypotheses, references, strict=True))
    return float(bleu_from_stats(stats, max_order)[0])


ROUGE_NAMES = ("rouge-1", "rouge-2", "rouge-l", "p5-rouge-1", "p5-rouge-2", "p5-rouge-l")

# Scripts written without spaces between words: each character is one token (a word segmenter would
# need a dictionary). Marks that follow such a character (e.g. variation selectors) stay with it.
_UNSPACED_SCRIPTS = r"\p{Han}\p{Hiragana}\p{Katakana}"


@lru_cache(maxsize=1)
def _unicode_token_pattern():
    # `regex` (for Unicode script and category classes) is required by nltk, which rouge-score requires.
    import regex

    unspaced = f"[{_UNSPACED_SCRIPTS}]"
    return regex.compile(rf"{unspaced}\p{{M}}*|(?:(?!{unspaced})[\p{{L}}\p{{N}}\p{{M}}])+")


class UnicodeTokenizer:
    """rouge-score's tokenizer extended to every script (it keeps only [a-z0-9], so "café" -> "caf"
    and Chinese text has no tokens at all).

    Text is NFC-normalised and lowercased; a token is a run of Unicode letters, digits and combining
    marks, so on ASCII text the tokens are exactly rouge-score's. Han, Hiragana and Katakana characters
    are one token each. Other scripts without spaces (Thai, Khmer, ...) give one token per run."""

    def tokenize(self, text: str) -> list[str]:
        return _unicode_token_pattern().findall(unicodedata.normalize("NFC", text).lower())


@lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False,
                                    tokenizer=UnicodeTokenizer())


def rouge_f1(hypothesis: str, reference: str) -> dict[str, float]:
    """ROUGE-1/2/L F1 (x100) of one pair from the `rouge-score` package (no stemming), on
    `UnicodeTokenizer` tokens. N-gram occurrences are counted (Lin 2004, as rouge-score does)."""
    scores = _rouge_scorer().score(reference or "", hypothesis or "")
    return {"rouge-1": scores["rouge1"].fmeasure * 100, "rouge-2": scores["rouge2"].fmeasure * 100,
            "rouge-l": scores["rougeL"].fmeasure * 100}


def p5_tokens(text: str) -> list[str]:
    """P5's ROUGE tokens: split on single spaces, case and punctuation kept. Two spaces in a row, or
    a leading/trailing space, give an empty token, and the empty text is one empty token."""
    return text.split(" ")


def _ngram_set(tokens: list[str], order: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + order]) for i in range(len(tokens) - order + 1)}


def p5_rouge_n(hypothesis: list[str], reference: list[str], order: int) -> float:
    """ROUGE-N of P5 (TF-NMT `rouge_n`): F = 2PR/(P+R) over the *sets* of n-grams; 0 without overlap."""
    hyp, ref = _ngram_set(hypothesis, order), _ngram_set(reference, order)
    overlap = len(hyp & ref)
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(hyp), overlap / len(ref)
    return 2 * precision * recall / (precision + recall)


def _lcs_length(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def p5_rouge_l(hypothesis: list[str], reference: list[str]) -> float:
    """Sentence-level ROUGE-L of P5 (TF-NMT `rouge_l_sentence_level`): R = LCS/len(ref),
    P = LCS/len(hyp), F = (1+b^2)RP/(R+b^2 P) with b = P/R (not F1, which is b = 1); 0 without a
    common token. P5 adds 1e-12 guards against division by zero; the zero case is explicit here."""
    lcs = _lcs_length(hypothesis, reference)
    if lcs == 0:
        return 0.0
    recall, precision = lcs / len(reference), lcs / len(hypothesis)
    beta_sq = (precision / recall) ** 2
    return (1 + beta_sq) * recall * precision / (recall + beta_sq * precision)


def p5_rouge(hypothesis: str, reference: str) -> dict[str, float]:
    """ROUGE-1/2/L (x100) of one pair as P5 and LLMRec compute them (TF-NMT `rouge()`, whose corpus
    value is the mean over samples)."""
    hyp, ref = p5_tokens(hypothesis or ""), p5_tokens(reference or "")
    return {"p5-rouge-1": p5_rouge_n(hyp, ref, 1) * 100, "p5-rouge-2": p5_rouge_n(hyp, ref, 2) * 100,
            "p5-rouge-l": p5_rouge_l(hyp, ref) * 100}


def rouge_scores(hypothesis: str, reference: str) -> dict[str, float]:
    """Every ROUGE of one pair, keyed by ROUGE_NAMES."""
    return {**rouge_f1(hypothesis, reference), **p5_rouge(hypothesis, reference)}


# --- per-sample statistics and their reduction ----------------------------------------------------

def _hypothesis(p: Prediction) -> str:
    return "" if p.parse_failed or p.value is None else str(p.value)  # failures score as empty text


def text_stats(predictions: Sequence[Prediction], references: Sequence[str]) -> np.ndarray:
    """Per sample: [1, parse_failed, each ROUGE_NAMES score, *bleu_stats]. ROUGE is a mean over
    samples, so its per-sample scores are its sufficient statistics."""
    rows = []
    for p, ref in zip(predictions, references):
        hyp, ref = _hypothesis(p), "" if ref is None else str(ref)
        rouge = rouge_scores(hyp, ref)
        rows.append([1.0, float(p.parse_failed), *(rouge[name] for name in ROUGE_NAMES),
                     *bleu_stats(hyp, ref, BLEU_ORDER)])
    return np.array(rows, dtype=float).reshape(-1, 2 + len(ROUGE_NAMES) + 2 * BLEU_ORDER + 2)


def text_values(s: np.ndarray) -> dict[str, np.ndarray]:
    count = s[:, 0]
    bleu = s[:, 2 + len(ROUGE_NAMES):]
    rouge = {name: s[:, 2 + i] / count for i, name in enumerate(ROUGE_NAMES)}
    return {"bleu-1": bleu_from_stats(bleu, 1), "bleu-4": bleu_from_stats(bleu, BLEU_ORDER), **rouge,
            "parse_failure_rate": s[:, 1] / count}


def text_per_sample(prediction: Prediction, reference: str) -> dict[str, float]:
    """Sentence-level bleu-1/bleu-4 (unsmoothed) and every ROUGE_NAMES score of one answer."""
    hyp = _hypothesis(prediction)
    stats = bleu_stats(hyp, str(reference), BLEU_ORDER)
    return {"bleu-1": float(bleu_from_stats(stats, 1)[0]), "bleu-4": float(bleu_from_stats(stats, 4)[0]),
            **{k: float(v) for k, v in rouge_scores(hyp, str(reference)).items()}}


TEXT = MetricFamily(
    name="text",
    description="corpus BLEU-1/4 on whitespace tokens; ROUGE-1/2/L of rouge-score and of P5 (means over samples)",
    metrics=("bleu-1", "bleu-4", *ROUGE_NAMES, "parse_failure_rate"),
    lower_is_better=frozenset({"parse_failure_rate"}),
    to_stats=text_stats, to_values=text_values, per_sample=text_per_sample,
)
