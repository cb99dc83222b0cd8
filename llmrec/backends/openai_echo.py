"""Likelihood scores from an OpenAI-compatible completions endpoint's echo: which echoed tokens are the
continuation's, found by their text offsets (pure functions, no HTTP)."""

from __future__ import annotations

from llmrec.errors import LLMRecError
from llmrec.types import Score


class Misaligned(Exception):
    """The echoed tokens and text do not line up with the prompt and continuation sent."""


def echo_score(
    echoed: str,
    tokens: list[str],
    offsets: list[int],
    values: list[float | None],
    prompt: str,
    continuation: str,
) -> Score:
    """Sum the log-probabilities of the continuation's tokens in an echo response.

    The response covers prompt + continuation + one generated token. Token i spans
    [offsets[i], offsets[i+1]). Some servers count offsets on text without special tokens
    (llama.cpp leaves out a leading "<|im_start|>"): the offsets are re-anchored on the end.
    """
    text = prompt + continuation
    if not echoed.startswith(text):
        raise Misaligned("the echoed text differs from the prompt")
    generated = echoed[len(text) :]
    if generated and tokens[-1] != generated:
        raise Misaligned("the generated token is missing from the echoed tokens")
    covered = offsets[-1] + len(tokens[-1])  # text length as the server's offsets measure it
    shift = len(echoed) - covered  # characters the offsets leave out, all inside the prompt
    if shift < 0 or shift > len(prompt):
        raise Misaligned("text offsets do not match the echoed text")
    return continuation_score(offsets, values, len(prompt) - shift, len(text) - shift)


def continuation_score(offsets: list[int], values: list[float | None], start: int, end: int) -> Score:
    """Sum the log-probabilities of the tokens covering text[start:end].

    A token straddling `start` counts as continuation (it carries continuation text);
    tokens at or after `end` were generated, not echoed.
    """
    first = max((i for i, off in enumerate(offsets) if off <= start), default=0)
    picked = [v for off, v in zip(offsets[first:], values[first:]) if off < end]
    if not picked:
        raise LLMRecError("likelihood scoring: the continuation is empty")
    if any(v is None for v in picked):  # only the very first token of a text has no log-prob
        raise LLMRecError("likelihood scoring: the prompt is empty; the first token has no log-probability")
    return Score(logprob=float(sum(picked)), tokens=len(picked))
