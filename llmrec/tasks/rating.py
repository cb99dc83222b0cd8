"""Rating prediction: how will the user rate this item (1-5)? Scored by RMSE/MAE."""

from __future__ import annotations

from functools import cached_property

from llmrec.tasks.base import (SampleIds, SampleOptions, Task, by_user_time, earlier_rows, gc_paused,
                               history_bounds, spread_over_users)
from llmrec.types import LazyVariables, Sample


class _Variables:
    """Builds one sample's template variables from the training ratings, on first read."""

    def __init__(self, train, catalog, shots: int):
        self.title, self.category = catalog["title"].to_dict(), catalog["category"].to_dict()
        self.train, self.shots = train, shots
        self.entries: dict[tuple[int, float], dict] = {}  # one shared, read-only entry per (item, rating)

    # The training rows as lists on first read: a run may read no sample's variables at all.
    @cached_property
    def items(self) -> list[int]:
        return self.train["item"].tolist()

    @cached_property
    def ratings(self) -> list[float]:
        return self.train["rating"].tolist()

    def entry(self, j: int) -> dict:
        key = (self.items[j], self.ratings[j])
        if key not in self.entries:
            item = key[0]
            self.entries[key] = {"item": item, "title": self.title[item], "category": self.category[item],
                                 "rating": key[1]}
        return self.entries[key]

    def __call__(self, user: int, item: int, start: int, end: int) -> dict:
        history = [self.entry(j) for j in earlier_rows(self.items, start, end, item)]
        return {
            "user": user,
            "item": item,
            "title": self.title[item],
            "category": self.category[item],
            "history": history,
            "examples": history[-self.shots:] if self.shots else [],
        }


class RatingTask(Task):
    name, kind, default_dataset = "rating", "rating", "movielens-100k"
    description = "Predict the star rating (1-5) a user gives an item."
    training_frame, recommender_method = "ratings", "rate"

    def build(self, prepared, options: SampleOptions) -> list[Sample]:
        return build(prepared, options)

    def parse(self, sample, raw, context):
        from llmrec.parsing import parse_rating_prediction

        return parse_rating_prediction(raw)


@gc_paused
def build(prepared, options: SampleOptions) -> list[Sample]:
    ratings = by_user_time(prepared.ratings)
    split, ratings = ratings["split"], ratings[["user", "item", "rating", "timestamp"]]
    train = ratings[(split == "train").to_numpy()]
    targets = ratings[(split == options.split).to_numpy()]
    if options.split == "train":  # finetuning: a seeded mix of users, so --limit spans many of them
        targets = targets.sample(frac=1.0, random_state=options.seed)
        targets = targets.iloc[: options.limit]  # one sample per row
    variables = _Variables(train, prepared.items, options.shots)
    starts, ends = history_bounds(train, targets)
    ids = SampleIds()
    samples = [Sample("rating", ids(f"u{user}-i{item}"), user, item, LazyVariables(variables, user, item, start, end),
                      rating)
               for user, item, rating, start, end in zip(targets["user"].tolist(), targets["item"].tolist(),
                                                         targets["rating"].tolist(), starts.tolist(), ends.tolist())]
    return spread_over_users(samples, options)

