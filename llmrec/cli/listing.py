"""`llmrec tasks` and `llmrec models`: what a user can choose."""

from __future__ import annotations

import typer


def tasks():
    """List the tasks, their default datasets and templates."""
    from llmrec.prompts import list_templates
    from llmrec.tasks import TASKS

    for t in TASKS.values():
        typer.echo(f"{t.name:12} {t.kind:8} {t.default_dataset:17} templates: {', '.join(list_templates(t.name))}")
        typer.echo(f"{'':12} {t.description}")


def models():
    """List model aliases (LLMs), the backends that run them, and the recommenders with their options."""
    from llmrec.backends import BACKENDS, list_models
    from llmrec.recommenders import RECOMMENDERS, tasks_done_by

    for row in list_models():
        typer.echo(f"{row['alias']:14} {row['backend']:7} {row['id']:45} {row.get('description', '')}")
    for e in RECOMMENDERS.entries():
        typer.echo(f"{e.name:14} {e.value.kind:7} {', '.join(tasks_done_by(e.name)):45} {e.description}")
        if e.options:
            typer.echo(f"{'':14} {'':7} --model-args " + ", ".join(f"{k} ({v})" for k, v in e.options.items()))
    typer.echo("\nbackends (--backend):")
    for e in BACKENDS.entries():
        typer.echo(f"  {e.name:12} {e.description}")
