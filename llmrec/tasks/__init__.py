"""The five tasks of LLMRec and P5, in a registry. Each is a `Task` that owns its behaviour (see tasks/base.py).

A new task is a `Task` subclass registered with `TASKS.add(name, task, description)`.
"""

from __future__ import annotations

from llmrec.errors import LLMRecError
from llmrec.registry import Registry
from llmrec.tasks.base import Asking, SampleOptions, Task
from llmrec.tasks.rating import RatingTask
from llmrec.tasks.ranking import DirectTask, SequentialTask
from llmrec.tasks.text import ExplanationTask, ReviewTask

TASKS: Registry[Task] = Registry("task")
for _task in (RatingTask(), SequentialTask(), DirectTask(), ExplanationTask(), ReviewTask()):
    TASKS.add(_task.name, _task, _task.description)

__all__ = ["TASKS", "Asking", "Task", "SampleOptions", "get_task", "parse_task_list"]


def get_task(name: str) -> Task:
    return TASKS.get(name)


def parse_task_list(text: str) -> list[Task]:
    """'rating,direct' or 'all' -> tasks, in the order given, without repeats."""
    names = TASKS.names() if text.strip() == "all" else [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise LLMRecError("--task: expected a task name, a comma-separated list, or all")
    return [get_task(n) for n in dict.fromkeys(names)]
