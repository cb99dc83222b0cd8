"""Recommenders: models that answer a task's query directly (no prompt, no parsing), in a registry.

A new recommender is a `Recommender` subclass registered with `add_recommender(cls)`; its `__init__`
keyword arguments are its options (`--model-args`), and the tasks it does are those whose
`recommender_method` (rate, rank, write) it defines.
"""

from __future__ import annotations

from llmrec.errors import LLMRecError
from llmrec.recommenders.base import Ranker, Recommender
from llmrec.recommenders.classic import MODELS
from llmrec.recommenders.neural import NEURAL_MODELS
from llmrec.registry import Registry, suggestion

RECOMMENDERS: Registry[type[Recommender]] = Registry("recommender")


def options_of(cls: type[Recommender]) -> dict[str, str]:
    """The keyword arguments a recommender takes, with their defaults (seed and device come from bench)."""
    return cls.options()


def add_recommender(cls: type[Recommender]) -> type[Recommender]:
    return RECOMMENDERS.add(cls.name, cls, cls.about, options_of(cls))


for _cls in (*MODELS, *NEURAL_MODELS):
    add_recommender(_cls)


def is_recommender(model: str) -> bool:
    return model in RECOMMENDERS


def make_recommender(name: str, *, seed: int, device: str = "cpu", options: dict | None = None) -> Recommender:
    """An unfitted recommender; an option it does not take is refused with the nearest one it does."""
    entry = RECOMMENDERS.entry(name)
    for key in options or {}:
        if key not in entry.options:
            hint = suggestion(key, entry.options)
            known = ", ".join(entry.options) or "none"
            raise LLMRecError(f"--model-args {key}: {name} has no such option"
                              + (f" (did you mean {hint}?)" if hint else "") + f"; its options: {known}")
    try:
        return entry.value(seed=seed, device=device, **(options or {}))
    except TypeError as e:
        raise LLMRecError(f"--model-args: {name}: {e}") from None


def parse_model_args(text: str) -> dict:
    """'k=50,l2_grid=[0.05, 0.1]' -> {"k": 50, "l2_grid": [0.05, 0.1]}: values read as YAML scalars or lists."""
    import yaml

    parts, depth, current = [], 0, ""
    for ch in text:
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    options = {}
    for part in (p.strip() for p in parts if p.strip()):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise LLMRecError(f"--model-args: expected KEY=VALUE[,KEY=VALUE...], got '{part}'")
        try:
            options[key.strip()] = yaml.safe_load(value.strip())
        except yaml.YAMLError:
            raise LLMRecError(f"--model-args {key.strip()}: cannot read the value '{value.strip()}'") from None
    return options


def tasks_done_by(name: str) -> list[str]:
    from llmrec.tasks import TASKS

    model = RECOMMENDERS.get(name)
    return [t.name for t in TASKS.values() if t.done_by(model)]


__all__ = ["RECOMMENDERS", "Ranker", "Recommender", "add_recommender", "is_recommender", "make_recommender",
           "options_of", "parse_model_args", "tasks_done_by"]
