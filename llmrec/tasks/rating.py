"""Rating prediction: how will the user rate this item (1-5)? Scored by RMSE/MAE."""

from __future__ import annotations

from llmrec.tasks.base import SampleIds, SampleOptions, Task, earlier_rows
from llmrec.types import Sample


def build(prepared, options: SampleOptions) -> list[Sample]:
    ratings = prepared.ratings.sort_values(["user", "timestamp"], kind="stable")
    title = prepared.items["title"].to_dict()
    category = prepared.items["category"].to_dict()
    train = ratings[ratings["split"] == "train"]
    targets = ratings[ratings["split"] == options.split]
    if options.split == "train":  # finetuning: a seeded mix of users, so --limit spans many of them
        targets = targets.sample(frac=1.0, random_state=options.seed)
    if options.limit is not None:
        targets = targets.iloc[: options.limit]  # one sample per row
    train_item, train_rating = train["item"].tolist(), train["rating"].tolist()
    # one shared, read-only history entry per (item, rating): building a dict per entry dominated
    keys = list(zip(train_item, train_rating))
    entries = {key: {"item": key[0], "title": title[key[0]], "category": category[key[0]], "rating": key[1]}
               for key in set(keys)}
    samples, ids = [], SampleIds()
    for user, item, rating, past in zip(targets["user"].tolist(), targets["item"].tolist(),
                                        targets["rating"].tolist(), earlier_rows(train, targets)):
        history = [entries[keys[j]] for j in past]
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
