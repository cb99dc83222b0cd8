"""A task defined outside llmrec: will the user rate the item 4 or more? Scored as a 0/1 rating (RMSE = error rate)."""

from llmrec.tasks import TASKS, Task
from llmrec.types import Sample


class LikedTask(Task):
    name, kind, default_dataset = "liked", "rating", "movielens-100k"
    description = "Say 1 if the user rates the item 4 stars or more, else 0."
    training_frame, recommender_method = "ratings", "rate"

    def build(self, prepared, options):
        rows = prepared.ratings[prepared.ratings["split"] == options.split].head(options.limit or 40)
        return [Sample(self.name, f"u{u}-i{i}", int(u), int(i), {"title": prepared.items.at[i, "title"]},
                       float(r >= 4)) for u, i, r in zip(rows["user"], rows["item"], rows["rating"])]

    def parse(self, sample, raw, context):
        from llmrec.parsing import parse_rating_prediction

        return parse_rating_prediction(raw)


TASKS.add(LikedTask.name, LikedTask(), LikedTask.description)
