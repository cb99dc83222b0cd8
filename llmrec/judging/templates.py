"""Judge templates: YAML data files under prompts/judge/<task>-<mode>.yaml, rendered with Jinja2.

A template names its criteria (name -> what the judge is told it means) and one prompt. Pointwise
templates are rendered once per (sample, criterion) with `criterion` and `description` set; pairwise
ones once per order of the two outputs, with `output_a`, `output_b` and every criterion in `criteria`.
Both see the sample's own variables (what the judged model saw: history, item, rating, review) and its
`reference`. The file's SHA-256 is part of a judgment's identity, as a task template's is of a run's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from llmrec.errors import LLMRecError
from llmrec.prompts import PROMPTS_DIR, _compiled

JUDGE_DIR = PROMPTS_DIR / "judge"
MODES = ("pointwise", "pairwise")


@dataclass(frozen=True)
class JudgeTemplate:
    task: str
    mode: str  # pointwise | pairwise
    name: str
    path: Path
    sha256: str
    about: str
    chat: bool
    max_new_tokens: int
    criteria: dict[str, str]  # name -> description, in the file's order
    prompt: str

    def render(self, variables: dict[str, Any]) -> str:
        try:
            return _compiled(self.prompt).render({**variables, "criteria": self.criteria}).strip()
        except Exception as e:  # jinja2.UndefinedError, bad filter input
            raise LLMRecError(f"{self.path}: cannot render judge template: {e}") from None


def default_name(task: str, mode: str) -> str:
    return f"{task}-{mode}"


def judged_tasks() -> list[str]:
    """Tasks with a shipped judge template (of either mode)."""
    return sorted({p.stem.rsplit("-", 1)[0] for p in JUDGE_DIR.glob("*.yaml")})


@lru_cache(maxsize=None)
def load_judge_template(task: str, mode: str, name: str | None = None) -> JudgeTemplate:
    """prompts/judge/<task>-<mode>.yaml, or `name`: another template under prompts/judge/ or a .yaml path."""
    import yaml

    name = name or default_name(task, mode)
    path = Path(name) if name.endswith((".yaml", ".yml")) else JUDGE_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in JUDGE_DIR.glob("*.yaml"))) or "none"
        raise LLMRecError(f"no judge template {path} for {mode} judging of the {task} task (shipped: {known})")
    raw = path.read_bytes()
    try:
        spec = yaml.safe_load(raw) or {}
    except yaml.YAMLError as e:
        raise LLMRecError(f"{path}: not valid YAML ({getattr(e, 'problem', e)})") from None
    criteria = spec.get("criteria") if isinstance(spec, dict) else None
    if not isinstance(spec, dict) or not isinstance(spec.get("prompt"), str) or not isinstance(criteria, dict) \
            or not criteria or not all(isinstance(k, str) and isinstance(v, str) for k, v in criteria.items()):
        raise LLMRecError(f"{path}: expected a mapping with a string 'prompt' and 'criteria' (name: description)")
    if spec.get("mode", mode) != mode:
        raise LLMRecError(f"{path}: a {spec.get('mode')} template, asked for {mode} judging")
    try:
        _compiled(spec["prompt"])  # syntax errors surface at load time, not mid-judgment
    except Exception as e:
        raise LLMRecError(f"{path}: 'prompt' is not a valid Jinja2 template ({e})") from None
    return JudgeTemplate(task=task, mode=mode, name=path.stem, path=path, sha256=hashlib.sha256(raw).hexdigest(),
                         about=str(spec.get("about", "")), chat=bool(spec.get("chat", True)),
                         max_new_tokens=int(spec.get("max_new_tokens", 16)), criteria=dict(criteria),
                         prompt=spec["prompt"])
