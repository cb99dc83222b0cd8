"""Catalog titles: their comparable form, and the matcher from one mention to one item id."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas

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


# The steps of ItemMatcher.match_how, in the order they are tried.
MATCH_STEPS = ("id", "exact", "normalized", "fuzzy")


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
        return self.match_how(mention, fuzzy)[0]

    def match_how(self, mention: str, fuzzy: bool = True) -> tuple[int | None, str | None]:
        """The item `mention` names and the step that found it (one of MATCH_STEPS), or (None, None)."""
        mention = str(mention).strip()
        if not mention:
            return None, None
        id_form = _ID_FORM.match(mention)
        if id_form and int(id_form.group(1)) in self.ids:
            return int(id_form.group(1)), "id"
        if mention in self.exact:
            return self.exact[mention], "exact"
        key = normalise_title(mention)
        if not key:
            return None, None
        if key in self.normalised:
            return self.normalised[key], "normalized"
        item = self._fuzzy(key) if fuzzy else None
        return (item, "fuzzy") if item is not None else (None, None)

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
