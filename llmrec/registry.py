"""Named things a user can choose (datasets, tasks, backends, recommenders, metric families): one `Registry`
each, so listing them, checking a name and suggesting the nearest one for a typo work the same everywhere."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Generic, Iterator, TypeVar

from llmrec.errors import LLMRecError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    value: T
    description: str
    options: dict[str, str] = field(default_factory=dict)  # option name -> what it sets (and its default)


class Registry(Generic[T]):
    """An ordered name -> entry table. `kind` names the things it holds in messages ("task", "recommender")."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def add(self, name: str, value: T, description: str, options: dict[str, str] | None = None) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = Entry(name, value, description, dict(options or {}))
        return value

    def remove(self, name: str) -> None:
        self._entries.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[Entry[T]]:
        return list(self._entries.values())

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise LLMRecError(self.unknown(name)) from None

    def get(self, name: str) -> T:
        return self.entry(name).value

    __getitem__ = get

    def values(self) -> list[T]:
        return [e.value for e in self._entries.values()]

    def unknown(self, name: str) -> str:
        """'unknown task 'ratng': did you mean rating? (expected one of: ...)'."""
        hint = suggestion(name, self._entries)
        return (f"unknown {self.kind} '{name}'" + (f": did you mean {hint}?" if hint else "")
                + f" (expected one of: {', '.join(self._entries)})")


def suggestion(name: str, known) -> str | None:
    """The known name nearest to a mistyped one, if any is close."""
    close = difflib.get_close_matches(name.lower(), [k.lower() for k in known], n=1, cutoff=0.75)
    if not close:
        return None
    return next(k for k in known if k.lower() == close[0])
