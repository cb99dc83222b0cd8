"""Reading a judge's reply: a 1-5 score (pointwise) or A / B / tie (pairwise); None when it says neither.

Judges rarely answer in exactly the asked form, so each reader tries the explicit forms first and a
bare answer last, and refuses anything ambiguous rather than guess: an unread verdict is counted as a
parse failure, never scored.
"""

from __future__ import annotations

import re

VERDICTS_VERSION = 1
"""Version of how replies are read. Bump it when a reader changes: judgments record it in their identity, so
verdicts read the old way are asked and read again, never mixed with new ones."""
SCALE = (1, 5)
# "Score: 4", "score = 4", "Rating: 4/5", "**Score:** 4"
_SCORE_LABELLED = re.compile(r"\b(?:score|rating|grade)\b\W{0,4}(\d+(?:\.\d+)?)", re.IGNORECASE)
# "4/5", "4 / 5", "4 out of 5"
_SCORE_OF_FIVE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(?:/|out of)\s*5\b", re.IGNORECASE)
_BARE_NUMBER = re.compile(r"^\W*(\d+(?:\.\d+)?)\W*$")  # "4", "**4**", "4." (a number inside prose may be echoed)

# "Verdict: A", "[[B]]", "Answer: tie", "The winner is: Summary B"
# (capital A and B only: "Answer: a good one" names no verdict)
_VERDICT_LABELLED = re.compile(
    r"\b(?i:verdict|answer|winner|better|choice|preferred)\b(?:\s+(?i:is|was))?\W{0,4}(?:(?i:explanation|summary|output|option)\s+)?"
    r"(A|B|(?i:tie))\b")
_VERDICT_BRACKETED = re.compile(r"\[\[\s*(A|B|tie|C)\s*\]\]", re.IGNORECASE)  # MT-bench's form; its C is a tie
_VERDICT_BARE = re.compile(r"^\W*(A|B|tie|equal|same)\W*$", re.IGNORECASE)
TIE = "tie"


def _in_scale(text: str) -> int | None:
    value = float(text)
    return int(value) if value.is_integer() and SCALE[0] <= value <= SCALE[1] else None


def parse_score(reply: str | None) -> int | None:
    """The 1-5 score a pointwise reply gives, or None: a labelled score, else "N/5", else a reply that is only a
    number. A number elsewhere in prose is not read: "the rating of 5 stars" echoes the prompt, it scores nothing."""
    if not reply:
        return None
    for pattern in (_SCORE_LABELLED, _SCORE_OF_FIVE):
        found = pattern.findall(reply)
        if found:
            values = {_in_scale(v) for v in found}
            return values.pop() if len(values) == 1 else None  # "Score: 2 ... Score: 4" says nothing
    bare = _BARE_NUMBER.match(reply)
    return _in_scale(bare.group(1)) if bare else None


def parse_preference(reply: str | None) -> str | None:
    """'A', 'B' or 'tie' from a pairwise reply, or None when it names no verdict or several different ones."""
    if not reply:
        return None
    for pattern in (_VERDICT_LABELLED, _VERDICT_BRACKETED, _VERDICT_BARE):
        found = {_normal(v) for v in pattern.findall(reply)}
        if found:
            return found.pop() if len(found) == 1 else None
    return None


def _normal(verdict: str) -> str:
    v = verdict.strip()
    if v.lower() in ("tie", "equal", "same", "c"):
        return TIE
    return v.upper()
