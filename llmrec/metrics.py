"""Metrics of the three task kinds, with percentile-bootstrap confidence intervals. Pure functions.

Every metric is a function of per-sample sufficient statistics summed over samples (errors,
hits, n-gram matches, mention counts). The corpus value uses the sums over all samples; each
bootstrap resample uses the sums over a resample of samples, so corpus-level BLEU and ratio
metrics (RMSE, rates) are resampled correctly, not averaged per sample.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np

from llmrec.types import Prediction

METRICS_VERSION = 2
"""Version of the metric definitions. Bump it when a metric's definition changes; runs record it, and
numbers from different versions are not comparable. 2: rouge-* tokenize Unicode text, p5-rouge-* added,
ranking answers read in two views (refined: titles out of prose; strict_*: well-formed lists only)."""

KINDS = ("rating", "ranking", "text")
RANKING_CUTOFFS = (1, 5, 10)
RANKING_QUALITY = ("hr@1", "hr@5", "hr@10", "ndcg@5", "ndcg@10", "mrr")
# The strict view of a generated ranking: only a well-formed list answer scores (Prediction.well_formed);
# strict_parse_failure_rate is the share of answers that are not one. The plain names are the refined view.
STRICT_QUALITY = tuple(f"strict_{name}" for name in RANKING_QUALITY)
STRICT_RANKING = (*STRICT_QUALITY, "strict_parse_failure_rate")
METRICS = {
    "rating": ("rmse", "mae", "coverage", "parse_failure_rate"),
    "ranking": (*RANKING_QUALITY, *STRICT_RANKING, "parse_failure_rate",
                "hallucination_rate", "out_of_candidate_rate", "duplicate_rate"),
    "text": ("bleu-1", "bleu-4", "rouge-1", "rouge-2", "rouge-l", "p5-rouge-1", "p5-rouge-2", "p5-rouge-l",
             "parse_failure_rate"),
}
LOWER_IS_BETTER: frozenset[str] = frozenset(
    {"rmse", "mae", "parse_failure_rate", "hallucination_rate", "out_of_candidate_rate", "duplicate_rate",
     "strict_parse_failure_rate"})
RATING_RANGE = (1.0, 5.0)
BLEU_ORDER = 4


# --- rating --------------------------------------------------------------------------------------

def clamp_rating(value: float) -> float:
    return float(min(max(value, RATING_RANGE[0]), RATING_RANGE[1]))


def rmse(predicted: Sequence[float], reference: Sequence[float]) -> float:
    diff = np.asarray(predicted, dtype=float) - np.asarray(reference, dtype=float)
    return float(np.sqrt(np.mean(diff ** 2))) if diff.size else math.nan


def mae(predicted: Sequence[float], reference: Sequence[float]) -> float:
    diff = np.asarray(predicted, dtype=float) - np.asarray(reference, dtype=float)
    return float(np.mean(np.abs(diff))) if diff.size else math.nan


# --- ranking (one relevant item per sample) -------------------------------------------------------

def rank_of(ranked: Sequence[Any] | None, target: Any) -> int | None:
    """1-based position of `target` in `ranked`, None when absent (or nothing was ranked)."""
    for position, item in enumerate(ranked or (), start=1):
        if item == target:
            return position
    return None


def hit_at_k(rank: int | None, k: int) -> float:
    return 1.0 if rank is not None and rank <= k else 0.0


def ndcg_at_k(rank: int | None, k: int) -> float:
    """With one relevant item the ideal DCG is 1, so NDCG@k = 1/log2(rank + 1) within the cut-off."""
    return 1.0 / math.log2(rank + 1) if rank is not None and rank <= k else 0.0


def reciprocal_rank(rank: int | None) -> float:
    return 1.0 / rank if rank is not None else 0.0


# --- text: BLEU exactly as TF-NMT compute_bleu (used by P5 / LLMRec); ROUGE two ways ---------------

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


# --- per-sample statistics and their reductions, one pair per kind -----------------------------

def _rating_stats(predictions: Sequence[Prediction], references: Sequence[float]) -> np.ndarray:
    rows = []
    for p, ref in zip(predictions, references):
        parsed = p.value is not None and not p.parse_failed and math.isfinite(float(p.value))
        error = clamp_rating(float(p.value)) - float(ref) if parsed else 0.0
        rows.append([1.0, float(parsed), error ** 2, abs(error), float(p.parse_failed)])
    return np.array(rows, dtype=float).reshape(-1, 5)


def _rating_values(s: np.ndarray) -> dict[str, np.ndarray]:
    count, parsed, squared, absolute, failed = s.T
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"rmse": np.where(parsed > 0, np.sqrt(squared / parsed), np.nan),
                "mae": np.where(parsed > 0, absolute / parsed, np.nan),
                "coverage": parsed / count, "parse_failure_rate": failed / count}


def _mentions(p: Prediction) -> list[float]:
    kept = len(p.value or ())
    return [kept + p.hallucinated + p.out_of_candidates + p.duplicates,
            p.hallucinated, p.out_of_candidates, p.duplicates]


def _ranking_row(p: Prediction, target: Any, strict: bool = False) -> list[float]:
    """hr@1/5/10, ndcg@5/10, mrr of one answer; strict: 0 unless the answer was a well-formed list."""
    usable = not p.parse_failed and (p.well_formed or not strict)
    rank = rank_of(p.value, target) if usable else None
    return ([hit_at_k(rank, k) for k in RANKING_CUTOFFS] + [ndcg_at_k(rank, k) for k in (5, 10)]
            + [reciprocal_rank(rank)])


def _ranking_stats(predictions: Sequence[Prediction], references: Sequence[Any]) -> np.ndarray:
    """Per sample: count, the refined view's 6 scores, parse failure, 4 mention counts (kept +
    invalid, hallucinated, out of candidates, duplicates), the strict view's 6 scores, strict failure."""
    rows = [[1.0, *_ranking_row(p, t), float(p.parse_failed), *_mentions(p),
             *_ranking_row(p, t, strict=True), float(p.parse_failed or not p.well_formed)]
            for p, t in zip(predictions, references)]
    return np.array(rows, dtype=float).reshape(-1, 19)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), 0.0)


def _ranking_values(s: np.ndarray) -> dict[str, np.ndarray]:
    count = s[:, 0]
    names = (*RANKING_QUALITY, "parse_failure_rate")
    values = {name: s[:, 1 + i] / count for i, name in enumerate(names)}
    mentions = s[:, 8]
    for i, name in enumerate(("hallucination_rate", "out_of_candidate_rate", "duplicate_rate")):
        values[name] = _ratio(s[:, 9 + i], mentions)
    for i, name in enumerate(STRICT_RANKING):
        values[name] = s[:, 12 + i] / count
    return values


def _hypothesis(p: Prediction) -> str:
    return "" if p.parse_failed or p.value is None else str(p.value)  # failures score as empty text


def _text_stats(predictions: Sequence[Prediction], references: Sequence[str]) -> np.ndarray:
    """Per sample: [1, parse_failed, each ROUGE_NAMES score, *bleu_stats]. ROUGE is a mean over
    samples, so its per-sample scores are its sufficient statistics."""
    rows = []
    for p, ref in zip(predictions, references):
        hyp, ref = _hypothesis(p), "" if ref is None else str(ref)
        rouge = rouge_scores(hyp, ref)
        rows.append([1.0, float(p.parse_failed), *(rouge[name] for name in ROUGE_NAMES),
                     *bleu_stats(hyp, ref, BLEU_ORDER)])
    return np.array(rows, dtype=float).reshape(-1, 2 + len(ROUGE_NAMES) + 2 * BLEU_ORDER + 2)


def _text_values(s: np.ndarray) -> dict[str, np.ndarray]:
    count = s[:, 0]
    bleu = s[:, 2 + len(ROUGE_NAMES):]
    rouge = {name: s[:, 2 + i] / count for i, name in enumerate(ROUGE_NAMES)}
    return {"bleu-1": bleu_from_stats(bleu, 1), "bleu-4": bleu_from_stats(bleu, BLEU_ORDER), **rouge,
            "parse_failure_rate": s[:, 1] / count}


_KIND: dict[str, tuple[Callable, Callable]] = {
    "rating": (_rating_stats, _rating_values),
    "ranking": (_ranking_stats, _ranking_values),
    "text": (_text_stats, _text_values),
}


# --- bootstrap ------------------------------------------------------------------------------------

def _shifted(stats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Statistics minus the first row, and that row. Summing deviations and adding n * row back is
    exact when all samples are equal, so such a metric gets a degenerate interval [v, v]."""
    origin = stats[0].copy()
    return stats - origin, origin


def total_sums(stats: np.ndarray) -> np.ndarray:
    """Column sums of per-sample statistics (n, d) -> (1, d), summed as `resampled_sums` does."""
    deviations, origin = _shifted(stats)
    return deviations.sum(axis=0, keepdims=True) + stats.shape[0] * origin


def resampled_sums(stats: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Column sums of `stats` over `n_boot` resamples (with replacement) of its rows: (n_boot, d).

    Each resample is a row of counts (how often each sample was drawn), so the sums are one matrix
    product; resamples are processed in chunks to bound memory on large sample sets."""
    n = stats.shape[0]
    deviations, origin = _shifted(stats)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, 2_000_000 // max(n, 1)))
    out = np.empty((n_boot, stats.shape[1]))
    for start in range(0, n_boot, chunk):
        rows = min(chunk, n_boot - start)
        draws = rng.integers(0, n, size=(rows, n)) + n * np.arange(rows)[:, None]  # offset per resample
        counts = np.bincount(draws.ravel(), minlength=rows * n).reshape(rows, n).astype(float)
        out[start:start + rows] = counts @ deviations + n * origin
    return out


def score(kind: str, predictions: list[Prediction], references: list, *, seed: int = 0,
          n_boot: int = 1000) -> dict[str, dict]:
    """All metrics of one task kind with 95% percentile-bootstrap intervals over samples.

    kind in {"rating", "ranking", "text"}. References are ratings (float), target item ids, or
    texts; Prediction.value is a float|None, a ranked list of item ids, or str|None. Unparsed
    answers are never dropped: they score 0 in ranking, empty text in text, and lower `coverage`
    in rating (RMSE/MAE are over parsed answers; NaN when none parsed). Returns
    {metric: {"value": float, "ci": [lo, hi]}} with plain floats, for every name in METRICS[kind].
    """
    if kind not in _KIND:
        raise ValueError(f"unknown metric kind {kind!r}; expected one of {', '.join(KINDS)}")
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    to_stats, to_values = _KIND[kind]
    stats = to_stats(predictions, references)
    if stats.shape[0] == 0:
        return {name: {"value": math.nan, "ci": [math.nan, math.nan]} for name in METRICS[kind]}
    values = to_values(total_sums(stats))
    boot = to_values(resampled_sums(stats, n_boot, seed)) if n_boot > 0 else None
    result = {}
    for name in METRICS[kind]:
        value = float(values[name][0])
        if boot is None or np.isnan(boot[name]).all():
            ci = [math.nan, math.nan]  # no resamples asked for, or no resample defines the metric
        else:
            # RMSE/MAE are undefined on a resample without parsed answers: those resamples are skipped.
            ci = [float(x) for x in np.nanpercentile(boot[name], [2.5, 97.5])]
        result[name] = {"value": value, "ci": ci}
    return result


def per_sample_scores(kind: str, prediction: Prediction, reference: Any) -> dict[str, float]:
    """The sample's own contribution, for per-sample logs and paired comparisons (ranking: both views,
    the strict one under strict_ names: 0 unless the answer was a well-formed list).

    rating: {"parsed", "abs_error", "squared_error"} (errors only when parsed, on the clamped value);
    ranking: hr@k, ndcg@k, mrr; text: every ROUGE_NAMES score and sentence-level bleu-1/bleu-4
    (unsmoothed)."""
    if kind == "rating":
        row = _rating_stats([prediction], [reference])[0]
        if not row[1]:
            return {"parsed": 0.0}
        return {"parsed": 1.0, "abs_error": float(row[3]), "squared_error": float(row[2])}
    if kind == "ranking":
        scores = [*_ranking_row(prediction, reference), *_ranking_row(prediction, reference, strict=True)]
        return dict(zip((*RANKING_QUALITY, *STRICT_QUALITY), map(float, scores), strict=True))
    if kind == "text":
        hyp = _hypothesis(prediction)
        stats = bleu_stats(hyp, str(reference), BLEU_ORDER)
        return {"bleu-1": float(bleu_from_stats(stats, 1)[0]), "bleu-4": float(bleu_from_stats(stats, 4)[0]),
                **{k: float(v) for k, v in rouge_scores(hyp, str(reference)).items()}}
    raise ValueError(f"unknown metric kind {kind!r}; expected one of {', '.join(KINDS)}")
