"""Finetuning examples: the task's samples from the training split only, rendered by an SFT template and
tokenised with the prompt exactly as the hf backend encodes it at inference, loss on the response only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from llmrec.errors import LLMRecError
from llmrec.tasks import SampleOptions, Task
from llmrec.types import Sample

IGNORE_INDEX = -100  # label value the loss skips (prompt tokens, padding)


@dataclass(frozen=True)
class SFTExample:
    task: str
    sample_id: str
    prompt: str
    response: str  # the template's `answer`; the eos token is appended at tokenisation


def load_sft_template(task: str, name: str):
    """The task's template; it must say how to write the answer (the response the model learns)."""
    import yaml

    from llmrec.prompts import load_template

    template = load_template(task, name)
    spec = yaml.safe_load(template.path.read_text(encoding="utf-8")) or {}
    if not isinstance(spec.get("answer"), str) or not spec["answer"].strip():
        raise LLMRecError(f"{template.path}: finetuning needs an 'answer' key (the response text, e.g. "
                          "'{{ reference }}'); use --template p5-sft or add one")
    return template


# ---- examples from the training split --------------------------------------------------------------


def training_samples(task: Task, prepared, need: int | None, seed: int) -> list[Sample]:
    """The task's samples from the training split (the first `need`, in the task's seeded order)."""
    return task.build(prepared, SampleOptions(split="train", seed=seed, limit=need))


def build_examples(tasks: Sequence[Task], prepared: dict[str, Any], templates: dict[str, Any],
                   limit: int | None, val_size: int, seed: int) -> tuple[list[SFTExample], list[SFTExample]]:
    """(training examples, validation examples), both from the training split only.

    Per task: the training samples (checked to be training rows); validation is a seeded random slice of
    `val_size` from all tasks' samples together; training takes the first `limit` of each task's remaining
    samples; the training mixture is shuffled with the seed.
    """
    import numpy as np

    pools: list[tuple[Task, Sample]] = []
    for task in tasks:
        need = None if limit is None else limit + val_size
        samples = training_samples(task, prepared[task.name], need, seed)
        task.check_train_only(prepared[task.name], samples)
        if not samples:
            raise LLMRecError(f"dataset {prepared[task.name].name} has no {task.name} samples in its training split")
        pools += [(task, s) for s in samples]
    if val_size >= len(pools):
        raise LLMRecError(f"--val-size {val_size}: the training split yields only {len(pools)} examples; "
                          "lower --val-size")
    rng = np.random.default_rng(seed)
    held_out = set(rng.choice(len(pools), size=val_size, replace=False).tolist()) if val_size else set()
    train: list[tuple[Task, Sample]] = []
    taken: dict[str, int] = {}
    for k, (task, sample) in enumerate(pools):
        if k in held_out or (limit is not None and taken.get(task.name, 0) >= limit):
            continue
        taken[task.name] = taken.get(task.name, 0) + 1
        train.append((task, sample))
    train = [train[k] for k in rng.permutation(len(train))]
    val = [pools[k] for k in sorted(held_out)]

    def render(task: Task, sample: Sample) -> SFTExample:
        template = templates[task.name]
        return SFTExample(task.name, sample.sample_id, template.render(sample.variables),
                          template.render_answer(sample.variables, sample.reference))

    return [render(*pair) for pair in train], [render(*pair) for pair in val]


# ---- tokenisation ----------------------------------------------------------------------------------


def encode_example(tokenizer, prompt: str, response: str, cutoff_len: int, chat: bool = False
                   ) -> tuple[dict[str, list[int]] | None, str]:
    """Token ids and labels of one example, and its status: "ok", "cut" or "dropped".

    The prompt is encoded exactly as the hf backend encodes it at inference (so the adapter sees the
    same tokens), the response on its own plus the eos token. Labels are IGNORE_INDEX on the prompt,
    so only the response is learned. Longer than `cutoff_len`: cut from the right; if no response
    token is left, the example is dropped.
    """
    from llmrec.backends.local import continuation_ids, encode_prompt

    if tokenizer.eos_token_id is None:
        raise LLMRecError("the tokenizer has no eos token: the model could not learn where an answer ends")
    prompt_ids, _ = encode_prompt(tokenizer, prompt, chat)
    response_ids = continuation_ids(tokenizer, response) + [tokenizer.eos_token_id]
    input_ids = prompt_ids + response_ids
    labels = [IGNORE_INDEX] * len(prompt_ids) + response_ids
    status = "ok"
    if len(input_ids) > cutoff_len:
        if len(prompt_ids) >= cutoff_len:
            return None, "dropped"
        input_ids, labels, status = input_ids[:cutoff_len], labels[:cutoff_len], "cut"
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels}, status


def encode_examples(tokenizer, examples: Sequence[SFTExample], cutoff_len: int, chat: dict[str, bool]
                    ) -> tuple[list[dict[str, list[int]]], dict[str, int]]:
    rows, counts = [], {"ok": 0, "cut": 0, "dropped": 0}
    for example in examples:
        row, status = encode_example(tokenizer, example.prompt, example.response, cutoff_len,
                                     chat.get(example.task, False))
        counts[status] += 1
        if row is not None:
            rows.append(row)
    return rows, counts
