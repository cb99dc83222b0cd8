"""A recommender defined outside llmrec: the same answer for everyone (its option `value`)."""

from llmrec.recommenders import Recommender, add_recommender


class Constant(Recommender):
    name, about = "constant", "one fixed rating for every query"
    hyperparameter_names = ("value",)

    def __init__(self, seed=2023, device="cpu", value=1.0):
        super().__init__(seed, device)
        self.value = float(value)

    def rate(self, query):
        return self.value


add_recommender(Constant)
