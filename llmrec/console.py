"""What llmrec tells the person running it, on stderr (stdout carries results): log lines and progress bars."""

from __future__ import annotations

import sys
import time

LOG_EVERY_S = 10.0  # progress lines when stderr is a file


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class progress:
    """A progress bar on stderr (results go to stdout)."""

    def __init__(self, label: str, total: int):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                            transient=False)
        self.task = self.bar.add_task(label, total=total)
        self.logged = float("-inf")

    def __enter__(self):
        self.bar.start()
        return self.advance

    def advance(self, n: int, description: str | None = None) -> None:
        """Move the bar on by `n`; `description` replaces the label (a trainer's epoch, loss, metric)."""
        if description is not None:
            self.bar.update(self.task, description=description)
        self.bar.advance(self.task, n)
        # A log file gets a plain line now and then (rich draws the bar there only at the end); at most
        # every LOG_EVERY_S, so fast classic models do not write a line per batch.
        now = time.monotonic()
        if not self.bar.console.is_terminal and now - self.logged >= LOG_EVERY_S:
            self.logged = now
            task = self.bar.tasks[0]
            self.bar.console.print(f"{task.description}: {task.completed:.0f}/{task.total:.0f}", highlight=False)

    def __exit__(self, *exc):
        self.bar.stop()
