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
    """List model aliases (LLMs) and classic recommenders."""
    from llmrec.backends import list_models
    from llmrec.baselines import CLASSIC

    for row in list_models():
        typer.echo(f"{row['alias']:14} {row['backend']:7} {row['id']:45} {row.get('description', '')}")
    for name, m in CLASSIC.items():
        typer.echo(f"{name:14} {'classic':7} {', '.join(sorted(m.tasks)):45} {m.about}")
