"""Ranking answers read two ways: refined (titles read out of prose too) and strict (well-formed lists only).

`read_ranking` gives an answer's item mentions and whether it is a well-formed list; `parse_ranking`
maps the mentions to item ids and counts every unusable one.
"""

from __future__ import annotations

import re
from typing import Sequence

from llmrec.parsing.lists import QUOTED, clean_mention, has_text, list_entries
from llmrec.parsing.titles import ItemMatcher
from llmrec.types import Prediction

# --- reading titles out of prose (the "refined" view) ----------------------------------------------

# Inline numbering: "1. Heat 2. Casino" (markers must count up by one; see _inline_numbered).
_INLINE_NUMBER = re.compile(r"(?<!\S)(\d{1,2})[.)]\s+")
# A preamble on the entry's own line: "The user has interacted with these items: ..." (4+ plain
# words: a list of titles before a colon, "Heat (1995), Alien: Resurrection", is not a preamble).
_LEAD_IN = re.compile(r"^(?:[\w'’!.]+\s+){3,}[\w'’]+:\s+(?=\S)")
# "Heat - a thriller the user will like", "Heat [Action, Crime]": a title, then why or what it is.
_EXPLAINED = re.compile(r"^(.+?)\s+(?:[-–—]\s+\S|\[)")
# Words after which prose names a title. Lowercase only: titles capitalise them ("Paris Is Burning").
_CUE = re.compile(r"\b(?:is|are|was|be|recommend(?:s|ed|ing)?|suggest(?:s|ed|ing)?|try|watch(?:ing)?|choose"
                  r"|pick|enjoy|like)\b:?|:")
_AND = re.compile(r"\s*(?:,\s*(?:and|or)\b|,|;|&|\band\b|\bor\b)\s*")  # "I recommend Heat, Casino and Fargo"
_WORD = re.compile(r"\S+")
_TITLE_WORDS = 12  # the longest run of words tried as one title after a cue
_SENTENCE = re.compile(r"^(?:\S+\s+){3,}\S*[.!?:]$")  # 4+ words ending like a sentence


class _AnswerReader:
    """Reads the item mentions out of one answer, remembering its catalog look-ups.

    The answer's list entries (`list_entries`) are read one by one. An entry that matches the
    catalog is one mention. Otherwise `_INSIDE` looks into it, the first reader that finds something
    wins, and the entry is prose: quoted titles, inline numbering, a lead-in before a colon,
    comma-separated titles, a title before an explanation, titles after cue words. The first two
    count every mention they find (a quoted string that names nothing is hallucinated); the others
    are verified against the catalog and fire only when a title matches (a comma list then counts
    all its pieces); spans tried inside a sentence must match without the fuzzy step. An entry none of them takes apart is one mention, matched or hallucinated, and
    is a bare title unless it reads as a sentence.
    """

    def __init__(self, matcher: "ItemMatcher"):
        self.matcher = matcher
        self._items: dict[str, int | None] = {}
        self._exact: dict[str, bool] = {}

    def item(self, mention: str) -> int | None:
        if mention not in self._items:
            self._items[mention] = self.matcher.match(mention)
        return self._items[mention]

    def names_item(self, mention: str) -> bool:
        return self.item(mention) is not None

    def names_item_exactly(self, mention: str) -> bool:
        """Without fuzzy matching: for the many spans tried inside prose, where a near miss is no title."""
        if mention not in self._exact:
            self._exact[mention] = self.matcher.match(mention, fuzzy=False) is not None
        return self._exact[mention]

    def read_answer(self, text: str) -> tuple[list[str], bool]:
        """The answer's mentions, and whether it is a well-formed list (see `read_ranking`)."""
        entries, alone = list_entries(text)
        mentions: list[str] = []
        bare = True
        for entry in filter(has_text, map(clean_mention, entries)):
            found, entry_bare = self.read(entry)
            mentions += found
            bare = bare and entry_bare
        return mentions, alone and bare and bool(mentions)

    def read(self, entry: str) -> tuple[list[str], bool]:
        """The entry's mentions in order, and whether the entry is a bare title (for well-formedness)."""
        if self.names_item(entry):
            return [entry], True
        for reader in self._INSIDE:
            found = [m for m in reader(self, entry) if has_text(m)]
            if found:
                return found, False
        return [entry], not _SENTENCE.match(entry)

    def _inline_numbered(self, entry: str) -> list[str]:
        markers = list(_INLINE_NUMBER.finditer(entry))
        numbers = [int(m.group(1)) for m in markers]
        if len(markers) < 2 or numbers != list(range(numbers[0], numbers[0] + len(numbers))):
            return []
        ends = [m.start() for m in markers[1:]] + [len(entry)]
        pieces = [entry[m.end(): end] for m, end in zip(markers, ends)]
        # Text before "1." is a preamble; before "2." it is entry 1, whose marker the line already lost.
        if numbers[0] > 1:
            pieces.insert(0, entry[: markers[0].start()])
        return [m for piece in pieces for m in self.read(clean_mention(piece))[0]]

    def _quoted(self, entry: str) -> list[str]:
        return [clean_mention(next(g for g in m.groups() if g is not None)) for m in QUOTED.finditer(entry)]

    def _lead_in(self, entry: str) -> list[str]:
        lead = _LEAD_IN.match(entry)
        return self.read(clean_mention(entry[lead.end():]))[0] if lead else []

    def _comma_list(self, entry: str) -> list[str]:
        pieces = re.split(r"[,;]", entry)
        if len(pieces) < 2:
            return []
        found, named, i = [], False, 0
        while i < len(pieces):
            # Longest run of pieces first: "Godfather, The (1972)" is one title, not two.
            for run in range(min(3, len(pieces) - i), 0, -1):
                mention = clean_mention(",".join(pieces[i: i + run]))
                if self.names_item(mention) if run == 1 else self.names_item_exactly(mention):
                    named = True
                    break
            found.append(mention)
            i += run
        return found if named else []

    def _explained(self, entry: str) -> list[str]:
        explained = _EXPLAINED.match(entry)
        title = clean_mention(explained.group(1)) if explained else ""
        return [title] if title and self.names_item(title) else []

    def _after_cues(self, entry: str) -> list[str]:
        found, end = [], 0
        for cue in _CUE.finditer(entry):
            if cue.start() < end:
                continue  # inside a title already read
            position = cue.end()
            while (title := self._title_at(entry, position)) is not None:
                mention, end = title
                found.append(mention)
                more = _AND.match(entry, end)
                if more is None:
                    break
                position = more.end()
        return found

    def _title_at(self, text: str, position: int) -> tuple[str, int] | None:
        """The longest run of words from `position` that names a catalog item, and where it ends."""
        words = [w.end() for _, w in zip(range(_TITLE_WORDS), _WORD.finditer(text, position))]
        for end in reversed(words):
            span = text[position:end]
            mention = clean_mention(span)
            if has_text(mention) and self.names_item_exactly(mention):
                return mention, position + len(span.rstrip(",;"))  # "Heat, Casino": the comma joins the next
        return None

    _INSIDE = (_inline_numbered, _quoted, _lead_in, _comma_list, _explained, _after_cues)


def read_ranking(text: str, matcher: ItemMatcher) -> tuple[list[str], bool]:
    """The item mentions of an answer in answer order (the refined view), and whether the answer is
    a well-formed list (the strict view).

    Mentions: the entries of the answer's list (see `list_entries`), each cleaned of numbering,
    emphasis and quotes and read by `_AnswerReader`: a title quoted inside a sentence, listed after
    "I recommend", or numbered inline is a mention; every mention is kept whether it matches or not.

    Well-formed: after an optional code fence around it, the answer is nothing but one list, either
    (a) a complete Python list of quoted titles or ids, (b) lines that are all numbered ("1. X",
    "2) X") or all bulleted ("- X"), or (c) one entry per line with no preamble line ending in ":";
    and every entry is a bare title or id: it matches a catalog item, or `_AnswerReader` finds
    nothing inside it and it does not read as a sentence (four or more words ending in . ! ? or :).
    An answer without any mention is not well-formed. A well-formed answer's mentions are its
    entries, so its refined and strict lists are the same.
    """
    return _AnswerReader(matcher).read_answer(text)


def parse_ranking(text: str, matcher: ItemMatcher, candidates: Sequence[int] | None = None) -> Prediction:
    """A ranked list of item ids from an answer, with every unusable mention counted.

    The mentions are those of `read_ranking` (titles read out of prose too). Each counts once as
    exactly one of: kept (first occurrence of a usable item), hallucinated (matches no catalog
    item), out_of_candidates (a real item outside `candidates`, when given) or duplicates (an item
    already kept). parse_failed when no mention was found; well_formed False when the answer is not
    a well-formed list, so the strict view scores it 0 (its list is `value` otherwise).
    """
    reader = _AnswerReader(matcher)
    mentions, well_formed = reader.read_answer(text)
    allowed = None if candidates is None else {int(c) for c in candidates}
    kept: list[int] = []
    seen: set[int] = set()
    hallucinated = out_of_candidates = duplicates = 0
    for mention in mentions:
        item = reader.item(mention)
        if item is None:
            hallucinated += 1
        elif allowed is not None and item not in allowed:
            out_of_candidates += 1
        elif item in seen:
            duplicates += 1
        else:
            seen.add(item)
            kept.append(item)
    return Prediction(value=kept, parse_failed=not mentions, hallucinated=hallucinated,
                      out_of_candidates=out_of_candidates, duplicates=duplicates, well_formed=well_formed)
