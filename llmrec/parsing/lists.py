"""The list structure of a ranking answer: a Python list, numbered or bulleted lines, or one entry a line.

Entries are cleaned of numbering, markdown emphasis and quotes here; what they name is read in
answers.py.
"""

from __future__ import annotations

import ast
import re

_NUMBERED = re.compile(r"^\s*(?:[-*•]\s*)?(?:\*\*)?[(\[#]?\d{1,3}\s*[.)\]:]\s*(\S.*)$")
_BULLET = re.compile(r"^\s*[-*•+]\s+(\S.*)$")
_QUOTED_LIST_START = re.compile(r"\[\s*[\"'“‘]")
_UNQUOTED_LIST = re.compile(r"\[([^\[\]\n]*,[^\[\]\n]*)\]")
# Between two quoted elements: closing quote, comma, opening quote. Splitting on this boundary
# keeps apostrophes inside titles ('Schindler's List') intact when the list is not valid Python.
_QUOTED_BOUNDARY = re.compile(r"[\"'”’]\s*,\s*[\"'“‘]")
QUOTES = "\"'“”‘’`"
# Quoted titles in prose: "..." and “...” anywhere; '...' and ‘...’ only where the quotes cannot be
# apostrophes: opened after a space or bracket, closed before a space or punctuation.
QUOTED = re.compile(r"\"([^\"\n]+)\"|“([^”\n]+)”"
                     r"|(?<![^\s(\[{,:;])['‘]((?=\S)[^\n]*?\S)['’](?![^\s.,;:!?)\]}])")
_LEADING_BOLD = re.compile(r"^\*\*(.+?)\*\*")


def clean_mention(mention: str) -> str:
    """Strip list numbering, markdown emphasis, surrounding quotes and trailing separators."""
    mention = mention.strip()
    numbered = _NUMBERED.match(mention)
    if numbered:
        mention = numbered.group(1)
    bold = _LEADING_BOLD.match(mention)
    if bold:  # "**Title** (1995): why" -> the bold span is the title
        mention = bold.group(1)
    previous = None
    while previous != mention:
        previous = mention
        mention = mention.strip().strip("*_").strip().rstrip(",;").strip()
        if len(mention) >= 2 and mention[0] in QUOTES and mention[-1] in QUOTES:
            mention = mention[1:-1]
        elif (mention[:1] in QUOTES) != (mention[-1:] in QUOTES) and not QUOTED.search(mention):
            # One quote left by a cut-off or mis-quoted list (not the end of a title quoted in prose).
            mention = mention.strip(QUOTES)
    return mention


def _on_list_line(text: str, position: int) -> bool:
    """Whether `position` lies on a numbered or bullet line ("1. Heat [Action, Crime]")."""
    line = text[text.rfind("\n", 0, position) + 1: position]
    return bool(_NUMBERED.match(line + "x") or _BULLET.match(line + "x"))


def _python_list(text: str) -> tuple[list[str], bool] | None:
    """The elements of the first Python list in `text`, and whether `text` is nothing but that list,
    complete, with quoted elements (read by `ast.literal_eval`, or split at quote-comma-quote when an
    apostrophe breaks Python's quoting: 'Schindler's List'). None when `text` holds no list."""
    start = _QUOTED_LIST_START.search(text)
    if start is None or _on_list_line(text, start.start()):
        unquoted = _UNQUOTED_LIST.search(text)
        if unquoted is None or _on_list_line(text, unquoted.start()):
            return None
        return unquoted.group(1).split(","), False  # "[Heat, Casino]" is not Python
    end = text.rfind("]")
    closed = end > start.start()
    span = text[start.start(): end + 1] if closed else text[start.start():]
    alone = closed and start.start() == 0 and end == len(text) - 1
    try:
        value = ast.literal_eval(span)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = None
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int)) for v in value):
        return [str(v) for v in value], alone
    inner = span[1:-1] if closed else span[1:]  # unterminated: the answer was cut off
    return _QUOTED_BOUNDARY.split(inner), alone and inner.rstrip()[-1:] in QUOTES


_FENCE = re.compile(r"^```[\w+-]*[ \t]*\n(.*?)\n?```$", re.DOTALL)


def list_entries(text: str) -> tuple[list[str], bool]:
    """The raw entries of an answer's list, and whether the answer is nothing but that list.

    Structures, first found wins: a Python list anywhere in the answer; numbered lines ("1. X",
    "2) X"), dropping the chatty lines around them; bullet lines; else one entry per non-empty line,
    dropping lines that end with ":" (preambles such as "Here are my picks:"). A code fence around
    the whole answer is markup, not text around the list.
    """
    body = (text or "").strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    listed = _python_list(body)
    if listed is not None:
        return listed
    lines = [line for line in body.splitlines() if line.strip()]
    for marker in (_NUMBERED, _BULLET):
        marked = [m.group(1) for m in map(marker.match, lines) if m]
        if marked:
            return marked, len(marked) == len(lines)
    entries = [line for line in lines if not line.rstrip().endswith(":")]
    return entries, len(entries) == len(lines)


def has_text(mention: str) -> bool:
    return any(c.isalnum() for c in mention)  # drops "```", "---", "[]"


def split_ranked_list(text: str) -> list[str]:
    """The entries of an answer's list (see `list_entries`), in answer order, cleaned of numbering,
    emphasis and quotes but neither matched nor looked into. Duplicates are kept (counted later)."""
    return [m for m in map(clean_mention, list_entries(text)[0]) if has_text(m)]
