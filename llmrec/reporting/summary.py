"""The comparison tables `llmrec bench` prints after running several models: one table per task.

The rows are grouped exactly as `llmrec report` groups them (llmrec.reporting.groups): by protocol, best
marked only within a protocol block that has rows to tell apart, rows sorted by the headline metric.
"""

from __future__ import annotations

from pathlib import Path

HEADLINE = {
    "rating": ("rmse", "mae", "coverage"),
    "ranking": ("hr@1", "hr@5", "hr@10", "ndcg@10", "mrr", "strict_hr@10", "parse_failure_rate",
                "hallucination_rate"),
    "text": ("bleu-1", "bleu-4", "rouge-1", "rouge-l", "p5-rouge-1", "p5-rouge-l", "parse_failure_rate"),
}


def print_comparison(runs: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    from llmrec.reporting.groups import Cell, block_caption, group_runs

    console = Console()
    if not console.is_terminal:  # a log or a pipe: no terminal width to respect, never squeeze numbers
        console = Console(width=200)
    labelled = [{**run, "label_extra": Path(run["adapter"]).name if run.get("adapter") else None} for run in runs]
    for group in group_runs(labelled):
        metrics = [m for m in HEADLINE[group.kind] if any(m in r.metrics for r in group.rows)]
        one_protocol = len(group.blocks) == 1
        first = group.blocks[0].entry
        console.print(f"[bold]comparison · {group.title} · {first['n_samples']} samples[/bold]"
                      + (" · same sample ids for every row" if one_protocol else ""), highlight=False)
        table = Table("model", *([] if one_protocol else ["protocol"]), "n", *metrics)
        for block in group.blocks:
            for row in block.rows:
                cells = []
                for m in metrics:
                    cell = Cell(block, row, m)
                    text = f"{cell.text} {cell.ci}".strip() if cell.value is not None else "—"
                    # bold in a terminal; the star also survives a log file
                    cells.append(f"[bold]{text} *[/bold]" if cell.best else text)
                table.add_row(row.label, *([] if one_protocol else [block.letter]), str(row.n), *cells)
        console.print(table)
        if not one_protocol:
            for block in group.blocks[1:]:
                console.print(f"  {' '.join(block_caption(group, block))}", highlight=False)
            console.print("  rows of different protocols were scored on different samples or protocols and are "
                          "not comparable; best values are marked within a protocol", highlight=False)
        console.print("  value ±half the 95% bootstrap CI; *: best among comparable rows; rows sorted by "
                      f"{group.headline[0] if group.headline else 'label'}", highlight=False)
        console.print()
