"""The report's cross-task summary: one row per model, one column per leaderboard's headline metric.

A column is one (task, dataset) leaderboard and its first headline metric (hr@10, rmse, rouge-1). Only
cells of the leaderboard's first protocol block (the most samples) sit side by side as comparable, and the
best of them is marked as the leaderboard marks it. A model whose row there is on another protocol (a
--limit run next to full test sets) or an unknown one still shows its value, marked with its block's
letter, and is never marked best.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmrec.reporting.facts import header
from llmrec.reporting.groups import Block, Cell, Group, Report


@dataclass
class Column:
    group: Group
    metric: str

    @property
    def reference(self) -> Block:
        return self.group.blocks[0]

    @property
    def title(self) -> str:
        return f"{self.group.title} · {header(self.metric)}"


@dataclass
class SummaryCell:
    cell: Cell | None  # None: the model has no row in this leaderboard
    block: Block | None

    @property
    def comparable(self) -> bool:
        return self.block is not None and self.block.known and self.block.letter == "A"

    @property
    def mark(self) -> str:
        """'' for a comparable cell, else the protocol block it comes from ('B', or '?' for unknown)."""
        if self.block is None or self.comparable:
            return ""
        return self.block.letter if self.block.known else "?"


@dataclass
class Summary:
    columns: list[Column]
    labels: list[str]
    cells: dict[tuple[str, int], SummaryCell]  # (label, column index) -> cell

    def cell(self, label: str, column: int) -> SummaryCell:
        return self.cells.get((label, column), SummaryCell(None, None))


def summarise(report: Report) -> Summary:
    columns = [Column(g, g.headline[0]) for g in report.groups if g.headline]
    labels: list[str] = []
    cells: dict[tuple[str, int], SummaryCell] = {}
    for index, column in enumerate(columns):
        for block in column.group.blocks:  # the first protocol first: a model's row there wins
            for row in block.rows:
                if (row.label, index) not in cells:
                    cells[(row.label, index)] = SummaryCell(Cell(block, row, column.metric), block)
                if row.label not in labels:
                    labels.append(row.label)
    return Summary(columns, labels, cells)


def model_rows(summary: Summary) -> list[tuple[str, list[SummaryCell]]]:
    return [(label, [summary.cell(label, i) for i in range(len(summary.columns))]) for label in summary.labels]


NOTE = ("One row per model, one column per leaderboard's headline metric. Values in a column are comparable only "
        "when they share the leaderboard's first protocol (A, the most samples); a value from another protocol is "
        "marked with its letter (see the leaderboard) and never best; '?' marks a protocol not recorded; — means "
        "no run of the model on that task and dataset.")


def markdown(report: Report) -> str:
    summary = summarise(report)
    if not summary.columns:
        return ""
    lines = ["## Summary across tasks", "", f"_{NOTE}_", "",
             "| model | " + " | ".join(c.title for c in summary.columns) + " |",
             "|---|" + "---:|" * len(summary.columns)]
    for label, cells in model_rows(summary):
        texts = []
        for item in cells:
            if item.cell is None:
                texts.append("—")
                continue
            text = f"{item.cell.text} {item.cell.ci}".strip()
            texts.append(f"**{text}**" if item.cell.best and item.comparable else
                         f"{text} [{item.mark}]" if item.mark else text)
        lines.append("| " + " | ".join([label.replace("|", "\\|"), *texts]) + " |")
    return "\n".join(lines) + "\n"
