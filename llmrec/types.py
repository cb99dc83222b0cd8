"""The small value types that carry one benchmark sample from data to records.

A `Sample` is built by a task from a prepared split; a backend answers the requests
rendered from it (a recommender answers the sample's `Query` instead); the task parses the raw text into a
`Prediction`; metrics read both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence


class LazyVariables(Mapping[str, Any]):
    """A sample's template variables, built on first read.

    A dataset yields far more samples than a run renders (--limit, resumed runs, classic models that
    need no prompt), and building every sample's history and candidate titles up front dominated
    preparing a large dataset. The build is deterministic, so when it happens changes nothing.
    """

    __slots__ = ("_build", "_args", "_values")

    def __init__(self, build: Callable[..., dict[str, Any]], *args: Any):
        self._build: Callable[..., dict[str, Any]] | None = build
        self._args = args
        self._values: dict[str, Any] | None = None

    def _resolved(self) -> dict[str, Any]:
        if self._values is None:
            self._values = self._build(*self._args)  # type: ignore[misc]
            self._build, self._args = None, ()
        return self._values

    def __getitem__(self, key: str) -> Any:
        return self._resolved()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._resolved())

    def __len__(self) -> int:
        return len(self._resolved())


@dataclass(slots=True)  # treated as a value, but not frozen: that made building a large split 25% slower
class Sample:
    task: str  # "rating" | "sequential" | "direct" | "explanation" | "review"
    sample_id: str  # stable across runs: resume and comparisons key on it
    user: int  # remapped user id
    item: int | None  # remapped target item id (None when the task has no single target)
    variables: Mapping[str, Any] = field(hash=False)  # what prompt templates may use (maybe LazyVariables)
    reference: Any = field(hash=False)  # rating (float), target item id (int) or text (str)

    @property
    def candidates(self) -> tuple[int, ...] | None:
        """Ranking tasks: the candidate item ids, in the order the prompt lists them."""
        entries = self.variables.get("candidates")
        return None if entries is None else tuple(entry["item"] for entry in entries)


@dataclass(slots=True)
class Query:
    """What a recommender is asked about one sample: read from the prepared data by the task, never from the
    prompt. Ranking: `history` is every earlier item of the user (oldest first) and `candidates` the items to
    rank, or None for the whole catalog minus the history. Review: `text` is the review to summarise."""

    user: int
    item: int | None = None
    history: Sequence[int] = ()
    candidates: Sequence[int] | None = None
    text: str | None = None


@dataclass
class Prediction:
    """A parsed answer. `value` is a float (rating), a ranked list of item ids, or text."""

    value: Any
    parse_failed: bool = False  # nothing usable in the answer
    hallucinated: int = 0  # mentioned items that match nothing in the catalog
    out_of_candidates: int = 0  # real catalog items that were not among the candidates
    duplicates: int = 0  # repeated items removed from a ranked list
    # Ranking: False when the answer was not a well-formed list (parsing.read_ranking), so the strict
    # view scores it 0. A well-formed answer's strict list is `value` itself: nothing else is stored.
    well_formed: bool = True

    def to_json(self) -> dict[str, Any]:
        out = {
            "value": self.value,
            "parse_failed": self.parse_failed,
            "hallucinated": self.hallucinated,
            "out_of_candidates": self.out_of_candidates,
            "duplicates": self.duplicates,
        }
        if not self.well_formed:  # only when it says something: records stay compact, old ones load
            out["well_formed"] = False
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Prediction":
        return cls(**d)


@dataclass(frozen=True)
class GenerateRequest:
    prompt: str
    chat: bool = True  # apply the model's chat template when it has one
    max_new_tokens: int = 64
    stop: tuple[str, ...] = ()
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    n: int = 1
    seed: int = 0


@dataclass(frozen=True)
class ScoreRequest:
    """Log-likelihood of each continuation given one shared prompt."""

    prompt: str
    continuations: tuple[str, ...]
    chat: bool = True


@dataclass(frozen=True)
class Score:
    logprob: float  # sum of token log-probabilities of the continuation
    tokens: int  # number of continuation tokens (for length normalisation)


class TransientError(Exception):
    """A request that may succeed when retried (HTTP 429/5xx, timeouts)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Backend(Protocol):
    """What every LLM backend implements. Batching, resume and progress live in llmrec/evaluation/runner.py."""

    name: str  # "hf" | "vllm" | "openai"

    def generate(self, requests: Sequence[GenerateRequest]) -> list[list[str]]:
        """One list of `n` completions per request, in request order."""

    def loglikelihood(self, requests: Sequence[ScoreRequest]) -> list[list[Score]]:
        """One Score per continuation, per request, in order."""

    def prompt_tokens(self, prompt: str, chat: bool = True) -> int | None:
        """Tokens the prompt takes after templating (None if unknown: no truncation check)."""

    @property
    def context_length(self) -> int | None:
        """Maximum tokens (prompt + generated) the model accepts, if known."""

    def info(self) -> dict[str, Any]:
        """For the run manifest: model id, revision or weight hash, adapter hash, dtype, device,
        whether the chat template was applied. Never secrets."""
