"""Turn raw LLM answers into `Prediction`s, counting everything that could not be used.

Parsers are deliberately literal: they read what the answer says and never guess a better
answer for the model. Failures are counted (parse_failed, hallucinated, out_of_candidates,
duplicates) so metrics can report them instead of dropping samples.

A ranking answer is read two ways (`read_ranking`): refined, LLMRec's "output refinement", maps
the titles it names to the catalog even when they sit in prose; strict counts only an answer that
is a well-formed list (`Prediction.well_formed`).
"""

from __future__ import annotations

import ast
import re
import unicodedata
from typing import TYPE_CHECKING, Sequence

from llmrec.types import Prediction

if TYPE_CHECKING:
    import pandas

# ---------------------------------------------------------------------------------------------------
# Ratings
# ---------------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------------
# Ranked lists
# ---------------------------------------------------------------------------------------------------

_NUMBERED = re.compile(r"^\s*(?:[-*•]\s*)?(?:\*\*)?[(\[#]?\d{1,3}\s*[.)\]:]\s*(\S.*)$")
_BULLET = re.compile(r"^\s*[-*•+]\s+(\S.*)$")
_QUOTED_LIST_START = re.compile(r"\[\s*[\"'“‘]")
_UNQUOTED_LIST = re.compile(r"\[([^\[\]\n]*,[^\[\]\n]*)\]")
# Between two quoted elements: closing quote, comma, opening quote. Splitting on this boundary
# keeps apostrophes inside titles ('Schindler's List') intact when the list is not valid Python.
_QUOTED_BOUNDARY = re.compile(r"[\"'”’]\s*,\s*[\"'“‘]")
_QUOTES = "\"'“”‘’`"
# Quoted titles in prose: "..." and “...” anywhere; '...' and ‘...’ only where the quotes cannot be
# apostrophes: opened after a space or bracket, closed before a space or punctuation.
_QUOTED = re.compile(r"\"([^\"\n]+)\"|“([^”\n]+)”"
                     r"|(?<![^\s(\[{,:;])['‘]((?=\S)[^\n]*?\S)['’](?![^\s.,;:!?)\]}])")
_LEADING_BOLD = re.compile(r"^\*\*(.+?)\*\*")


def _clean_mention(mention: str) -> str:
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
        if len(mention) >= 2 and mention[0] in _QUOTES and mention[-1] in _QUOTES:
            mention = mention[1:-1]
        elif (mention[:1] in _QUOTES) != (mention[-1:] in _QUOTES) and not _QUOTED.search(mention):
            # One quote left by a cut-off or mis-quoted list (not the end of a title quoted in prose).
            mention = mention.strip(_QUOTES)
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
    return _QUOTED_BOUNDARY.split(inner), alone and inner.rstrip()[-1:] in _QUOTES


_FENCE = re.compile(r"^```[\w+-]*[ \t]*\n(.*?)\n?```$", re.DOTALL)


def _list_entries(text: str) -> tuple[list[str], bool]:
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


def _has_text(mention: str) -> bool:
    return any(c.isalnum() for c in mention)  # drops "```", "---", "[]"


def split_ranked_list(text: str) -> list[str]:
    """The entries of an answer's list (see `_list_entries`), in answer order, cleaned of numbering,
    emphasis and quotes but neither matched nor looked into. Duplicates are kept (counted later)."""
    return [m for m in map(_clean_mention, _list_entries(text)[0]) if _has_text(m)]


_ID_FORM = re.compile(r"^\s*<?\s*(?:item)?\s*[_#:\- ]?\s*(?:id\s*[:#]?\s*)?(\d+)\s*>?\s*$", re.IGNORECASE)
_YEAR = re.compile(r"\s*\(\s*\d{4}\s*\)[\s.!?]*$")  # "(1997)." ends a sentence, too
_TRAILING_ARTICLE = re.compile(r",\s*(the|a|an|la|le|les|l'|il|el|der|die|das)\s*$", re.IGNORECASE)
_LEADING_ARTICLE = re.compile(r"^(the|a|an)\s+", re.IGNORECASE)
_ROMAN = {"ii": "2", "iii": "3", "iv": "4", "vi": "6", "vii": "7", "viii": "8", "ix": "9"}


def normalise_title(title: str) -> str:
    """Comparable form of a title: "Godfather, The (1972)" and "the godfather" both -> "godfather".

    Casefolds, strips accents, drops a trailing "(1995)" year, drops a leading English article or a
    trailing ", The"-style article (the catalog form MovieLens uses, incl. ", La", ", Les"), turns
    punctuation into spaces and roman numerals II-IX into digits ("Part II" == "Part 2").
    """
    title = unicodedata.normalize("NFKD", str(title))
    title = "".join(c for c in title if not unicodedata.combining(c)).casefold().strip()
    title = _YEAR.sub("", title)
    title = _TRAILING_ARTICLE.sub("", title)
    title = _LEADING_ARTICLE.sub("", title.strip())
    words = re.sub(r"[\W_]+", " ", title).split()
    if len(words) > 1 and words[0] in ("the", "a", "an"):  # "The, ..." left after punctuation removal
        words = words[1:]
    return " ".join(_ROMAN.get(w, w) for w in words)


def _digits(text: str) -> list[str]:
    return sorted(re.findall(r"\d+", text))


class ItemMatcher:
    """Map one mention to a catalog item id.

    Tries, in order: an id form ("item_123", "123", "<item 123>", "item 123") naming a known id;
    the exact title; the normalised title (see `normalise_title`), also against the title with any
    trailing "(...)" alias removed; then fuzzy matching on normalised titles with rapidfuzz's
    `token_sort_ratio` at `score_cutoff=threshold`. Fuzzy matches must name the same numbers as the
    title, so sequels and remakes ("Toy Story 2" vs "Toy Story") never match each other. Titles
    shared by several items resolve to the lowest item id.
    """

    def __init__(self, items: "pandas.DataFrame", threshold: float = 90.0):
        self.threshold = float(threshold)
        ordered = items.sort_index()  # lowest id first: duplicate titles keep the lowest id
        self.ids = frozenset(int(i) for i in ordered.index)
        self.exact: dict[str, int] = {}
        self.normalised: dict[str, int] = {}
        aliases: dict[str, int] = {}
        for item, title in zip(ordered.index, ordered["title"].astype(str)):
            item = int(item)
            if not title.strip():
                continue
            self.exact.setdefault(title.strip(), item)
            self.normalised.setdefault(normalise_title(title), item)
            # "Double vie de Véronique, La (Double Life of Veronique, The)" also answers to its first part.
            base = re.sub(r"\s*\([^()]*\)\s*$", "", _YEAR.sub("", title.strip()))
            if base and base != title.strip():
                aliases.setdefault(normalise_title(base), item)
            # "Misérables, Les" also answers to "Les Misérables" (English articles are dropped anyway).
            article = _TRAILING_ARTICLE.search(base)
            if article:
                aliases.setdefault(normalise_title(f"{article.group(1)} {base[:article.start()]}"), item)
        for key, item in aliases.items():
            self.normalised.setdefault(key, item)
        self.normalised.pop("", None)
        self._choices = list(self.normalised)
        self._choice_ids = [self.normalised[k] for k in self._choices]

    def match(self, mention: str, fuzzy: bool = True) -> int | None:
        """The item `mention` names, or None; fuzzy=False stops before the (slower) fuzzy step."""
        mention = str(mention).strip()
        if not mention:
            return None
        id_form = _ID_FORM.match(mention)
        if id_form and int(id_form.group(1)) in self.ids:
            return int(id_form.group(1))
        if mention in self.exact:
            return self.exact[mention]
        key = normalise_title(mention)
        if not key:
            return None
        if key in self.normalised:
            return self.normalised[key]
        return self._fuzzy(key) if fuzzy else None

    def _fuzzy(self, key: str) -> int | None:
        from rapidfuzz import fuzz, process

        best = process.extractOne(key, self._choices, scorer=fuzz.token_sort_ratio,
                                  score_cutoff=self.threshold)
        if best is None:
            return None
        choice, _score, index = best
        if _digits(choice) != _digits(key):
            return None
        return self._choice_ids[index]


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

    The answer's list entries (`_list_entries`) are read one by one. An entry that matches the
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
        entries, alone = _list_entries(text)
        mentions: list[str] = []
        bare = True
        for entry in filter(_has_text, map(_clean_mention, entries)):
            found, entry_bare = self.read(entry)
            mentions += found
            bare = bare and entry_bare
        return mentions, alone and bare and bool(mentions)

    def read(self, entry: str) -> tuple[list[str], bool]:
        """The entry's mentions in order, and whether the entry is a bare title (for well-formedness)."""
        if self.names_item(entry):
            return [entry], True
        for reader in self._INSIDE:
            found = [m for m in reader(self, entry) if _has_text(m)]
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
        return [m for piece in pieces for m in self.read(_clean_mention(piece))[0]]

    def _quoted(self, entry: str) -> list[str]:
        return [_clean_mention(next(g for g in m.groups() if g is not None)) for m in _QUOTED.finditer(entry)]

    def _lead_in(self, entry: str) -> list[str]:
        lead = _LEAD_IN.match(entry)
        return self.read(_clean_mention(entry[lead.end():]))[0] if lead else []

    def _comma_list(self, entry: str) -> list[str]:
        pieces = re.split(r"[,;]", entry)
        if len(pieces) < 2:
            return []
        found, named, i = [], False, 0
        while i < len(pieces):
            # Longest run of pieces first: "Godfather, The (1972)" is one title, not two.
            for run in range(min(3, len(pieces) - i), 0, -1):
                mention = _clean_mention(",".join(pieces[i: i + run]))
                if self.names_item(mention) if run == 1 else self.names_item_exactly(mention):
                    named = True
                    break
            found.append(mention)
            i += run
        return found if named else []

    def _explained(self, entry: str) -> list[str]:
        explained = _EXPLAINED.match(entry)
        title = _clean_mention(explained.group(1)) if explained else ""
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
            mention = _clean_mention(span)
            if _has_text(mention) and self.names_item_exactly(mention):
                return mention, position + len(span.rstrip(",;"))  # "Heat, Casino": the comma joins the next
        return None

    _INSIDE = (_inline_numbered, _quoted, _lead_in, _comma_list, _explained, _after_cues)


def read_ranking(text: str, matcher: ItemMatcher) -> tuple[list[str], bool]:
    """The item mentions of an answer in answer order (the refined view), and whether the answer is
    a well-formed list (the strict view).

    Mentions: the entries of the answer's list (see `_list_entries`), each cleaned of numbering,
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


# ---------------------------------------------------------------------------------------------------
# Free text (explanations, review summaries)
# ---------------------------------------------------------------------------------------------------

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
        if len(line) >= 2 and line[0] in _QUOTES and line[-1] in _QUOTES:
            line = line[1:-1]
        elif len(line) >= 3 and line[0] in _QUOTES and line[-2] in _QUOTES and line[-1] in ".!":
            line = line[1:-2]  # "Great fit". -> Great fit
    return Prediction(value=line or None, parse_failed=not line)
