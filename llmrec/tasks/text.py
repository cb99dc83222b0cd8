"""Explanation generation and review summarization: text references scored by BLEU and ROUGE.

Explanation references are the source's explanation sentence when it has one (P5's exp_splits), else
the review's first sentence; summarization references are the review's summary (its title).
"""

from __future__ import annotations

import re
from typing import Callable

from llmrec.tasks.base import (SampleIds, SampleOptions, Task, by_user_time, earlier_rows, first_sentence,
                               gc_paused, history_bounds, spread_over_users)
from llmrec.types import Query, Sample

REVIEW_FIELDS = ["user", "item", "rating", "text", "summary", "explanation"]


def explanation_of(review: dict) -> str:
    return review["explanation"] or first_sentence(review["text"])


@gc_paused
def _build(task: str, prepared, options: SampleOptions, reference: Callable[[dict], str],
           variables: Callable[[dict, list[dict]], dict]) -> list[Sample]:
    reviews = by_user_time(prepared.reviews)
    train = reviews[reviews["split"] == "train"]
    targets = reviews[reviews["split"] == options.split]
    if options.split == "train":  # finetuning: a seeded mix of users, so --limit spans many of them
        targets = targets.sample(frac=1.0, random_state=options.seed)
    train_rows = train[REVIEW_FIELDS].to_dict("records")
    train_items = train["item"].tolist()
    samples, ids = [], SampleIds()
    for row, start, end in zip(targets[REVIEW_FIELDS].to_dict("records"), *history_bounds(train, targets)):
        answer = reference(row)
        if not answer or not row["text"]:
            continue  # nothing to compare against
        # the user's latest earlier training reviews of other items (never the target itself)
        past = [train_rows[j] for j in earlier_rows(train_items, start, end, row["item"])]
        v = {"user": int(row["user"]), "item": int(row["item"]), **variables(row, past)}
        v["examples"] = [variables(r, [])["example"] for r in past[-options.shots:]] if options.shots else []
        samples.append(Sample(task, ids(f"u{row['user']}-i{row['item']}"), v["user"], v["item"], v, answer))
        if options.split == "train" and len(samples) == options.limit:
            break
    return spread_over_users(samples, options)


def build_explanation(prepared, options: SampleOptions) -> list[Sample]:
    title = prepared.items["title"].to_dict()
    category = prepared.items["category"].to_dict()

    def variables(row, past):
        return {"title": title[row["item"]], "category": category[row["item"]], "rating": float(row["rating"]),
                "history": [{"item": r["item"], "title": title[r["item"]]} for r in past],
                "example": {"title": title[row["item"]], "rating": float(row["rating"]),
                            "explanation": explanation_of(row)}}

    return _build("explanation", prepared, options, explanation_of, variables)


def build_review(prepared, options: SampleOptions) -> list[Sample]:
    title = prepared.items["title"].to_dict()

    def variables(row, past):
        return {"title": title[row["item"]], "review": row["text"],
                "summaries": [r["summary"] for r in past if r["summary"]],
                "example": {"review": row["text"], "summary": row["summary"]}}

    return _build("review", prepared, options, lambda row: row["summary"], variables)


_WORD = re.compile(r"\S+")


def cut_to_fit(text: str, fits: Callable[[str], bool]) -> tuple[str, int] | None:
    """The longest start of `text` in whole words (its own spacing kept) that `fits`, and how many words were
    cut from its end; None when not even an empty text fits. A binary search: log2(words) checks."""
    ends = [m.end() for m in _WORD.finditer(text)]
    if not fits(""):
        return None
    kept, most = 0, len(ends)  # the first `kept` words fit; more than `most` do not
    while kept < most:
        middle = (kept + most + 1) // 2
        if fits(text[:ends[middle - 1]]):
            kept = middle
        else:
            most = middle - 1
    return (text[:ends[kept - 1]] if kept else ""), len(ends) - kept


class TextTask(Task):
    kind, default_dataset = "text", "clothing-reviews"
    training_frame, recommender_method = "reviews", "write"

    def parse(self, sample, raw, context):
        from llmrec.parsing import parse_text

        return parse_text(raw)


class ExplanationTask(TextTask):
    name, description = "explanation", "Generate the user's explanation for a rating of an item."

    def build(self, prepared, options):
        return build_explanation(prepared, options)


class ReviewTask(TextTask):
    name, description = "review", "Summarize the user's review in a few words."
    trimmable = ("summaries", "examples")
    cuttable = "review"  # --truncation text: the review itself is cut from its end once no history is left

    def build(self, prepared, options):
        return build_review(prepared, options)

    def queries(self, prepared, samples, options):
        return [Query(s.user, s.item, text=s.variables["review"]) for s in samples]
