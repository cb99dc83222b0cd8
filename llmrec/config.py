"""Options from a YAML file (`--config FILE`): flags given on the command line > the file > defaults.

A config file is a flat mapping of option names (dashes or underscores) to values. Each value goes through
the same conversion and range checks as the flag would, and the command then validates the merged options
as one. `resolved_options` writes the final values back in the same form, which is how a run folder's
config.yaml re-runs its run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterable

from llmrec.errors import LLMRecError
from llmrec.registry import suggestion

CONFIG_OPTION = "config"  # the option that names the file; a file cannot set it
# Comma-separated options, which a file may also write as a YAML list.
LIST_OPTIONS = ("model", "task", "target_modules")


@dataclass
class Options:
    """A command's final option values and which of them the user set (on the command line or in the file)."""

    values: dict[str, Any]
    given: set[str] = field(default_factory=set)
    from_file: set[str] = field(default_factory=set)
    path: Path | None = None

    def namespace(self) -> SimpleNamespace:
        return SimpleNamespace(**self.values)

    def flag(self, name: str) -> str:
        """'--limit', or '--limit (set in FILE)' for a value the file gave, for error messages."""
        return f"--{cli_name(name)}" + (f" (set in {self.path})" if name in self.from_file else "")


def read_config(path: Path) -> dict:
    """The file's mapping; a missing file, bytes that are not UTF-8, bad YAML or anything but a mapping ->
    LLMRecError."""
    from llmrec.files import read_yaml

    if not path.is_file():
        raise LLMRecError(f"--config {path}: " + ("not a regular file" if path.exists() else "no such file"))
    data = read_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise LLMRecError(f"{path}: expected a mapping of option names to values, got a {type(data).__name__}")
    return data


def merge_options(ctx, path: Path | None) -> Options:
    """The command's options (ctx.params) with the file's value for every option not given as a flag."""
    params = {p.name: p for p in ctx.command.params if p.name != CONFIG_OPTION}
    values = {name: ctx.params[name] for name in params}
    flags = {name for name in params if given_on_command_line(ctx, name)}
    options = Options(values, given=set(flags), path=path)
    if path is None:
        return options
    spelled: dict[str, str] = {}
    for key, raw in read_config(path).items():
        name = str(key).replace("-", "_")
        if name not in params:
            known = [cli_name(n) for n in params]
            hint = suggestion(cli_name(name), known)
            raise LLMRecError(f"{path}: unknown option '{key}'" + (f": did you mean {hint}?" if hint else "")
                              + f" (expected one of: {', '.join(known)})")
        if name in spelled:
            raise LLMRecError(f"{path}: option '{key}' is given twice (also as '{spelled[name]}')")
        spelled[name] = str(key)
        value = convert(ctx, params[name], raw, f"{path}: {key}")  # checked even where a flag overrides it
        if name not in flags:
            options.values[name] = value
            options.from_file.add(name)
            options.given.add(name)
    return options


def given_on_command_line(ctx, name: str) -> bool:
    # typer carries its own click, so the parameter source is compared by name
    return getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"


def convert(ctx, param, raw: Any, where: str) -> Any:
    """A YAML value as the flag's own conversion would give it; the wrong type -> LLMRecError naming `where`."""
    if isinstance(raw, list) and param.name in LIST_OPTIONS and all(isinstance(x, str) for x in raw):
        raw = ",".join(raw)
    if isinstance(raw, (list, dict)):
        raise LLMRecError(f"{where}: expected a single value, got a {'list' if isinstance(raw, list) else 'mapping'}")
    if raw is None:
        if param.required or param.default is not None:
            raise LLMRecError(f"{where}: expected a value, got null (leave the option out for its default)")
        return None
    flag = bool(getattr(param, "is_bool_flag", False))
    if isinstance(raw, bool) != flag:  # YAML's true/false would otherwise pass as 1/0 or 'True'
        raise LLMRecError(f"{where}: expected {'true or false' if flag else describe(param)}, got {raw!r}")
    try:
        return param.process_value(ctx, raw)
    except Exception as e:  # typer's own click raises its BadParameter; its message says what was expected
        message = getattr(e, "message", None) or str(e)
        raise LLMRecError(f"{where}: {message[:1].lower() + message[1:]} (got {raw!r})") from None


def describe(param) -> str:
    """What a non-flag option takes, in words, from its annotation."""
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    words = {int: "an integer", float: "a number", str: "text", Path: "a path"}
    return words.get(annotation, "a value other than true/false")


def cli_name(name: str) -> str:
    return name.replace("_", "-")


def resolved_options(ctx, values: dict[str, Any], skip: Iterable[str] = ()) -> dict[str, Any]:
    """Every option's final value as a flat mapping with the names the CLI spells (what config.yaml holds)."""
    left_out = set(skip) | {CONFIG_OPTION}
    return {cli_name(p.name): plain(values[p.name]) for p in ctx.command.params if p.name not in left_out}


def plain(value: Any) -> Any:
    """A value YAML writes as a scalar: paths as text, tuples as comma-separated text."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return value


def write_config(path: Path, resolved: dict[str, Any]) -> None:
    import yaml

    from llmrec.records import write_text

    write_text(path, yaml.safe_dump(resolved, sort_keys=False))
