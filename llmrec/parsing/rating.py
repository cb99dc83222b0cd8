"""Ratings out of answers: the rating an answer gives, ignoring echoes of the prompt's scale."""

from __future__ import annotations

import re

from llmrec.types import Prediction

_NUMBER_WORDS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5"}
_WORD = "|".join(_NUMBER_WORDS)
# A number that stands alone: not part of "item_123", "user45", "3rd", a date or a version string.
_NUM = r"(?<![\w.\-/])(\d+(?:\.\d+)?)(?![\w]|\.\d|/\d+/)"
# Echoes of the prompt's scale ("1 being lowest and 5 being highest", "on a scale of 1 to 5", ...):
# they contain numbers that are not the answer, so they are blanked before any number is read.
_LOW, _HIGH = r"(?:0|1|zero|one)", r"(?:5|10|five|ten)"  # the ends of a rating scale
_ECHOES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"\(?\s*\b(?:\d|{_WORD})\s+(?:being|is|=|means|as)\s+(?:the\s+)?(?:lowest|worst|highest|best)"
        rf"(?:\s*(?:,|and|&)?\s*(?:\d|{_WORD})\s+(?:being|is|=|means|as)\s+(?:the\s+)?"
        rf"(?:lowest|worst|highest|best))?\s*\)?",
        rf"\b(?:on\s+)?(?:a\s+)?(?:rating\s+)?scale\s+(?:of|from)\s+{_LOW}\s*(?:to|-|–)\s*{_HIGH}\b",
        rf"\b(?:from|between)\s+{_LOW}\s+(?:to|and)\s+{_HIGH}\b",
        rf"(?<![\d.])\b{_LOW}\s*(?:-|–|to)\s*{_HIGH}\s*(?:-?\s*(?:star|point))?\s+(?:rating\s+)?scale\b",
        rf"\bout\s+of\s+{_HIGH}\s+(?:possible\s+)?stars?\s+(?:scale|system)\b",
    )
]
_STAR = r"\s*-?\s*(?:stars?|star\s+rating|points?)\b"
_FILLER = (r"(?:\s+(?:it|this|the|product|item|movie|user|would|will|be|is|of|a|an|as|with|me|at|about|around"
           r"|:|=|\*\*)){0,4}")
_VALUE = rf"\s*[:=]?\s*(?:\*\*)?\s*(\d+(?:\.\d+)?|{_WORD})(?![\w]|\.\d)"
# Explicit rating mentions. Tier 1 names the rating ("3/5", "4 stars", "rate it 4"); tier 2 is
# weaker ("the answer is 4", "**4**"). The leftmost match of the best tier wins over any bare number.
_FRACTION = re.compile(rf"(?<![\w.\-/])(\d+(?:\.\d+)?|{_WORD})\s*(?:/|out\s+of)\s*(\d+|five|ten)\b(?!\s*/)",
                       re.IGNORECASE)
_RANGE_STARS = re.compile(rf"(?<![\w.\-/])(\d(?:\.\d+)?)\s*(?:-|–|to)\s*(\d(?:\.\d+)?){_STAR}", re.IGNORECASE)
_STARS = re.compile(rf"(?<![\w.\-/])(\d+(?:\.\d+)?|{_WORD}){_STAR}", re.IGNORECASE)
_RATING_CUE = re.compile(rf"\b(?:rating|rate|rated|rates|score|scored|give|gives|giving|predict(?:ed|ion|s)?)\b"
                         rf"{_FILLER}{_VALUE}", re.IGNORECASE)
_WEAK_CUE = re.compile(rf"\b(?:is|would\s+be|will\s+be|answer|estimate|guess|say)\b{_FILLER}{_VALUE}",
                       re.IGNORECASE)
_BOLD = re.compile(r"\*\*\s*(\d+(?:\.\d+)?)\s*\*\*")
_BARE = re.compile(_NUM)
_DENOMINATORS = {"5": 5.0, "five": 5.0, "10": 10.0, "ten": 10.0, "100": 100.0}


def _as_number(token: str) -> float:
    return float(_NUMBER_WORDS.get(token.lower(), token))


def _explicit(text: str, tier: int) -> list[tuple[int, float | None]]:
    """(position, value) of the explicit rating mentions of one tier; value None if not a rating."""
    found: list[tuple[int, float | None]] = []
    if tier == 1:
        for m in _FRACTION.finditer(text):
            denominator = _DENOMINATORS.get(m.group(2).lower())
            value = _as_number(m.group(1))
            # "8/10" reads as 4 on a five-point scale; other denominators ("3/4") are not ratings.
            ok = denominator is not None and value <= denominator
            found.append((m.start(), value * 5.0 / denominator if ok else None))
        for m in _RANGE_STARS.finditer(text):
            found.append((m.start(), (float(m.group(1)) + float(m.group(2))) / 2))  # "3-4 stars" -> 3.5
        patterns = (_STARS, _RATING_CUE)
    else:
        patterns = (_WEAK_CUE, _BOLD)
    for pattern in patterns:
        for m in pattern.finditer(text):
            word = m.group(1).lower() in _NUMBER_WORDS
            # A number word after a weak cue is usually a pronoun ("it is one of the best").
            found.append((m.start(1), None if word and tier == 2 else _as_number(m.group(1))))
    return found


def parse_rating(text: str) -> float | None:
    """The rating an answer gives, or None when it gives none.

    Order of preference: (1) echoes of the prompt's scale ("1 being lowest and 5 being highest",
    "on a scale of 1 to 5") are ignored; (2) the leftmost explicit rating: "3/5", "8/10" (rescaled to
    4), "4 out of 5", "4.5 stars", "3-4 stars" (midpoint), "rating: 4", "I'd rate it 4"; (3) the
    leftmost weaker cue: "the answer is 4", "I'd say 4", "**4**"; (4) the first standalone number in
    [0, 10] (so "Apollo 13 ... 4" gives 4; ids such as item_123, dates and years are never read);
    (5) an answer that is only a number word ("Four."). Number words elsewhere count only in explicit
    patterns ("four stars"), because "one" is usually a pronoun. Values outside [0, 10] are not
    ratings; values are not clamped here (metrics clamp to [1, 5]).
    """
    if not text:
        return None
    for echo in _ECHOES:
        text = echo.sub(" ", text)
    for tier in (1, 2):
        found = sorted((pos, v) for pos, v in _explicit(text, tier) if v is not None and 0 <= v <= 10)
        if found:
            return float(found[0][1])
    for m in _BARE.finditer(text):
        value = float(m.group(1))
        if 0 <= value <= 10:
            return value
    word = re.sub(r"[\W_]+", " ", text).strip().lower()
    if word in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[word])
    return None


def parse_rating_prediction(text: str) -> Prediction:
    value = parse_rating(text)
    return Prediction(value=value, parse_failed=value is None)
