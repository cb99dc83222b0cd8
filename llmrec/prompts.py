"""Prompt templates: YAML data files under prompts/<task>/<name>.yaml, rendered with Jinja2."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from llmrec.errors import LLMRecError

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


@lru_cache(maxsize=None)
def load_template(task: str, name: str) -> Template:
    """`name` is a template name under prompts/<task>/ or a path to a YAML file."""
    import yaml

    path = Path(name) if name.endswith((".yaml", ".yml")) else PROMPTS_DIR / task / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(list_templates(task)) or "none"
        raise LLMRecError(f"unknown template '{name}' for task {task} (known: {known})")
    raw = path.read_bytes()
    try:
        spec = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise LLMRecError(f"{path}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    missing = [k for k in (*PARTS, "prompt") if not isinstance((spec or {}).get(k), str)]
    if missing:
        raise LLMRecError(f"{path}: expected string keys {', '.join(missing)}")
    for key in (*PARTS, "prompt", "answer"):  # syntax errors surface at load time, not mid-run
        try:
            _compiled(spec.get(key, "{{ reference }}"))
        except Exception as e:
            raise LLMRecError(f"{path}: '{key}' is not a valid Jinja2 template ({e})") from None
    return Template(
        task=task,
        name=path.stem,
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        about=str(spec.get("about", "")),
        chat=bool(spec.get("chat", True)),
        max_new_tokens=int(spec.get("max_new_tokens", 64)),
        shots=int(spec.get("shots", 0)),
        stop=tuple(spec.get("stop") or ()),
        parts={k: spec[k] for k in PARTS},
        layout=spec["prompt"],
        answer=spec.get("answer", "{{ reference }}"),
    )
