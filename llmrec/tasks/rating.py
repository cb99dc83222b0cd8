"""Rating prediction: how will the user rate this item (1-5)? Scored by RMSE/MAE."""

from __future__ import annotations

from llmrec.tasks.base import HISTORY_LENGTH, SampleIds, SampleOptions, Task
from llmrec.types import Sample


def build(prepared, options: SampleOptions) -> list[Sample]:
    ratings = prepared.ratings.sort_values(["user", "timestamp"], kind="stable")
    title = prepared.items["title"].to_dict()
    category = prepared.items["category"].to_dict()
    train = ratings[ratings["split"] == "train"]
    train_by_user = {u: list(zip(g["item"].tolist(), g["rating"].tolist()))
                     for u, g in train.groupby("user", sort=False)}
    targets = ratings[ratings["split"] == options.split]
    if options.split == "train":  # finetuning: a seeded mix of users, so --limit spans many of them
        targets = targets.sample(frac=1.0, random_state=options.seed)
    if options.limit is not None:
        targets = targets.iloc[: options.limit]  # one sample per row
    samples, ids = [], SampleIds()
    for user, item, rating in zip(targets["user"].tolist(), targets["item"].tolist(), targets["rating"].tolist()):
        past = [(i, r) for i, r in train_by_user.get(user, ()) if i != item][-HISTORY_LENGTH:]
        history = [{"item": i, "title": title[i], "category": category[i], "rating": r} for i, r in past]
        variables = {
            "user": user,
            "item": item,
            "title": title[item],
            "category": category[item],
            "history": history,
            "examples": history[-options.shots:] if options.shots else [],
        }
        samples.append(Sample("rating", ids(f"u{user}-i{item}"), user, item, variables, float(rating)))
    return samples


TASK = Task("rating", "rating", "movielens-100k", "Predict the star rating (1-5) a user gives an item.", build)
