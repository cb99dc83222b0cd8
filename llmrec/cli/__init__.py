"""The llmrec command line: the Typer app and its commands, one module per command group.

Each command parses options and calls one function; modules import only typer at the top, so
`llmrec --help` never loads torch, pandas or a model.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from llmrec.cli import bench, data, finetune, human_eval, judge, listing, results
from llmrec.errors import LLMRecError

app = typer.Typer(help="Benchmark large language models as recommender systems (LLMRec / P5 tasks).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _print_version(value: bool) -> None:
    if value:
        from llmrec import __version__

        typer.echo(f"llmrec {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: Optional[bool] = typer.Option(None, "--version", callback=_print_version, is_eager=True,
                                                    help="Print the version and exit.")):
    """Benchmark large language models as recommender systems (LLMRec / P5 tasks)."""


app.command()(bench.bench)
app.command()(finetune.finetune)
app.command()(results.report)
app.command()(results.check)
app.command()(results.compare)
app.command()(judge.judge)
app.command()(listing.tasks)
app.command()(listing.models)
app.add_typer(data.app, name="data")
app.add_typer(human_eval.app, name="human-eval")


INTERRUPTED = 130  # the exit code typer gives a KeyboardInterrupt inside a command
INTERRUPTED_MESSAGE = "interrupted: recorded samples are kept; run the same command again to resume"


def main() -> None:
    # typer carries its own click: its exceptions are caught from there
    from typer._click.exceptions import ClickException, NoArgsIsHelpError

    try:
        from llmrec.plugins import load_plugins

        load_plugins()  # before any command: plugins add tasks and recommenders to the registries
        code = app(standalone_mode=False)  # typer's own error box is replaced by the one-line error below
    except NoArgsIsHelpError as e:
        e.show()
        sys.exit(e.exit_code)
    except ClickException as e:  # option and usage errors: a mistyped flag, a value of the wrong type
        typer.echo(f"error: {one_line(e.format_message())}{help_hint(e)}", err=True)
        sys.exit(2)
    except LLMRecError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        code = INTERRUPTED
    if code == INTERRUPTED:
        typer.echo(INTERRUPTED_MESSAGE, err=True)
    sys.exit(code if isinstance(code, int) else 0)


def one_line(message: str) -> str:
    return " ".join(message.split())


def help_hint(e) -> str:
    """Where the options are listed, for an error about them."""
    ctx = getattr(e, "ctx", None)
    return f" (see {ctx.command_path} --help)" if ctx is not None else ""
