"""Prompt templates: YAML data files under prompts/<task>/<name>.yaml, rendered with Jinja2."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from llmrec.errors import LLMRecError, shown

PROMPTS_DIR = Path(__file__).parent / "prompts"  # a link to the repository's prompts/ folder
PARTS = ("task_description", "behaviour", "format_indicator")


def _quote(text: Any) -> str:
    return '"' + str(text).replace('"', "'") + '"'


def _num(value: Any) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:g}"


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    env.filters.update(quote=_quote, num=_num, item_id=lambda item: f"item_{item}")
    return env


@lru_cache(maxsize=1024)
def _compiled(source: str):
    return _environment().from_string(source)


@dataclass(frozen=True)
class Template:
    task: str
    name: str
    path: Path
    sha256: str
    about: str
    chat: bool
    max_new_tokens: int
    shots: int  # solved examples it shows by default; 0: it shows none
    stop: tuple[str, ...]
    parts: dict[str, str]
    layout: str
    answer: str

    def render(self, variables: dict[str, Any]) -> str:
        try:
            parts = {k: _compiled(v).render(variables).strip() for k, v in self.parts.items()}
            return _compiled(self.layout).render(**parts).strip() + (
                "\n" if self.layout.endswith("\n") else ""
            )
        except Exception as e:  # jinja2.UndefinedError, TemplateSyntaxError, bad filter input
            raise LLMRecError(f"{self.path}: cannot render template: {e}") from None

    def render_answer(self, variables: dict[str, Any], reference: Any) -> str:
        try:
            return _compiled(self.answer).render({**variables, "reference": reference})
        except Exception as e:
            raise LLMRecError(f"{self.path}: cannot render 'answer': {e}") from None


def list_templates(task: str) -> list[str]:
    return sorted(p.stem for p in (PROMPTS_DIR / task).glob("*.yaml"))


# Every key a template file may hold, with what its value must be (in words) and a check of it; the
# text keys are checked as Jinja2 below.
_TEXT = ("text", lambda v: isinstance(v, str))
KEYS = {
    **{part: _TEXT for part in (*PARTS, "prompt", "answer")},
    "about": _TEXT,
    "chat": ("true or false", lambda v: isinstance(v, bool)),
    "max_new_tokens": ("a whole number of tokens, at least 1",
                       lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1),
    "shots": ("a whole number of solved examples, 0 or more",
              lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0),
    "stop": ("a stop string or a list of non-empty stop strings",
             lambda v: v is None or isinstance(v, str) and v != "" or isinstance(v, list)
             and all(isinstance(x, str) and x for x in v)),
}
REQUIRED = (*PARTS, "prompt")


@lru_cache(maxsize=None)
def load_template(task: str, name: str) -> Template:
    """`name` is a template name under prompts/<task>/ or a path to a YAML file."""
    from llmrec.files import parse_yaml, read_bytes

    path = Path(name) if name.endswith((".yaml", ".yml")) else PROMPTS_DIR / task / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(list_templates(task)) or "none"
        raise LLMRecError(f"unknown template '{name}' for task {task} (known: {known})")
    raw = read_bytes(path)
    spec = parse_yaml(raw, path)
    check_spec(path, spec)
    for key in (*PARTS, "prompt", "answer"):  # syntax errors surface at load time, not mid-run
        try:
            _compiled(spec.get(key, "{{ reference }}"))
        except Exception as e:
            raise LLMRecError(f"{key_where(path, key)}: '{key}' is not a valid Jinja2 template ({e})") from None
    stop = spec.get("stop") or ()
    return Template(
        task=task,
        name=path.stem,
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        about=spec.get("about", ""),
        chat=spec.get("chat", True),
        max_new_tokens=spec.get("max_new_tokens", 64),
        shots=spec.get("shots", 0),
        stop=(stop,) if isinstance(stop, str) else tuple(stop),  # one string is one stop, not its letters
        parts={k: spec[k] for k in PARTS},
        layout=spec["prompt"],
        answer=spec.get("answer", "{{ reference }}"),
    )


def check_spec(path: Path, spec: Any) -> None:
    """A template file's mapping: every key known, every value of its kind, the required ones present."""
    from llmrec.registry import suggestion

    if not isinstance(spec, dict):
        raise LLMRecError(f"{path}: expected a mapping of template keys ({', '.join(REQUIRED)}, ...), "
                          f"got {kind_of(spec)}")
    for key, value in spec.items():
        if key not in KEYS:
            hint = suggestion(str(key), list(KEYS))
            raise LLMRecError(f"{key_where(path, key)}: unknown key {shown(str(key))}"
                              + (f": did you mean {hint}?" if hint else f" (expected one of: {', '.join(KEYS)})"))
        expected, valid = KEYS[key]
        if not valid(value):
            raise LLMRecError(f"{key_where(path, key)}: '{key}' should be {expected}, got {shown(value)}")
    missing = [k for k in REQUIRED if k not in spec]
    if missing:
        raise LLMRecError(f"{path}: expected string keys {', '.join(missing)}")


def kind_of(value: Any) -> str:
    """What a parsed YAML value is, in words, for messages."""
    if value is None:
        return "nothing"
    names = {str: "text", list: "a list", dict: "a mapping", bool: "true/false", int: "a number", float: "a number"}
    return names.get(type(value), f"a {type(value).__name__}")


def key_where(path: Path, key: Any) -> str:
    """'file:line' of a top-level key of a YAML mapping (found again only for a message), else 'file'."""
    import yaml

    from llmrec.errors import where

    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        line = next(k.start_mark.line + 1 for k, _ in node.value if k.value == str(key))
    except Exception:  # the key was found by safe_load; its line is a courtesy
        line = None
    return where(path, line)
