"""Free-text answers (explanations, review summaries): the text itself, without labels or quotes."""

from __future__ import annotations

import re

from llmrec.parsing.lists import QUOTES
from llmrec.types import Prediction

_LABEL = re.compile(
    r"^[\s*_#>]*(?:(?:short|brief|one[- ]sentence|review|product|generated|final|your)\s+)*"
    r"(?:summary|explanation|answer|response|output|sentence|title)\s*(?:\(.{0,20}?\))?\s*[*_]*\s*:\s*[*_]*\s*",
    re.IGNORECASE,
)


def parse_text(text: str) -> Prediction:
    """The first non-empty line, without a "Summary:"-style label, markdown emphasis or quotes.

    A line ending with ":" that is followed by more text ("Sure! Here is a summary:") is a preamble
    and is skipped. parse_failed (value None) when nothing is left.
    """
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    while len(lines) > 1 and lines[0].rstrip("*_ ").endswith(":"):
        lines = lines[1:]  # "Sure! Here is a summary:" or a bare "**Summary:**" before the text
    line = _LABEL.sub("", lines[0]) if lines else ""
    previous = None
    while previous != line:
        previous = line
        line = line.strip().strip("*_`").strip()
        if len(line) >= 2 and line[0] in QUOTES and line[-1] in QUOTES:
            line = line[1:-1]
        elif len(line) >= 3 and line[0] in QUOTES and line[-2] in QUOTES and line[-1] in ".!":
            line = line[1:-2]  # "Great fit". -> Great fit
    return Prediction(value=line or None, parse_failed=not line)
