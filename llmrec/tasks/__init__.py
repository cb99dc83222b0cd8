"""The five tasks of LLMRec and P5. Each is a `Task`: how to build samples, which parser and metrics."""

from __future__ import annotations

from llmrec.errors import LLMRecError
from llmrec.tasks.base import SampleOptions, Task
from llmrec.tasks.rating import TASK as RATING
from llmrec.tasks.ranking import DIRECT, SEQUENTIAL
from llmrec.tasks.text import EXPLANATION, REVIEW

TASKS: dict[str, Task] = {t.name: t for t in (RATING, SEQUENTIAL, DIRECT, EXPLANATION, REVIEW)}

__all__ = ["TASKS", "Task", "SampleOptions", "get_task", "parse_task_list"]


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise LLMRecError(f"unknown task '{name}' (expected one of: {', '.join(TASKS)}, or all)") from None


def parse_task_list(text: str) -> list[Task]:
    """'rating,direct' or 'all' -> tasks, in the order given, without repeats."""
    names = list(TASKS) if text.strip() == "all" else [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise LLMRecError("--task: expected a task name, a comma-separated list, or all")
    return [get_task(n) for n in dict.fromkeys(names)]
