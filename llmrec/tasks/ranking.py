"""Sequential and direct recommendation: one held-out next item per user, the user's first row of the split
(leave-one-out by time has one; a global time split can hold out several, the later ones are not targets).

Sequential ranks the whole catalog (minus the user's history) in generate mode and for recommenders;
direct ranks the sample's candidates (the target plus the user's fixed negatives). Likelihood scoring
ranks the candidates for both.
"""

from __future__ import annotations

import numpy as np

from llmrec.data.splits import HISTORY_SPLITS, first_per_user
from llmrec.tasks.base import (HISTORY_LENGTH, RECOMMENDED, SampleOptions, Task, by_user_time, gc_paused,
                               order_candidates, sample_rng, spread_over_users)
from llmrec.types import LazyVariables, Prediction, Query, Sample, ScoreRequest


class _Variables:
    """Builds one sample's template variables, on first read."""

    def __init__(self, prepared, options: SampleOptions, items: list[int], kept: np.ndarray):
        self.title = prepared.items["title"].to_dict()
        # one shared, read-only entry per item: a sample lists 100 candidates, rebuilding them dominated
        self.entries = {int(i): {"item": int(i), "title": t} for i, t in self.title.items()}
        self.negatives, self.options = prepared.negatives, options
        self.items, self.kept = items, kept  # the users' rows by time; whether each may be history

    def titles(self, items) -> list[dict]:
        return [self.entries[i] for i in items]

    def held_out(self, user: int, start: int, row: int) -> dict:
        """Variables for the user's held-out row: the user's kept rows before it are the history."""
        seen = [item for item, keep in zip(self.items[start:row], self.kept[start:row].tolist()) if keep]
        return self(user, seen, self.items[row])

    def __call__(self, user: int, seen: list[int], target: int) -> dict:
        options = self.options
        candidates = candidates_of(self.negatives, options, user, len(seen), target)
        return {
            "user": user,
            "item": target,
            "history": self.titles(seen[-HISTORY_LENGTH:]),
            "seen": seen,  # every earlier item: full-catalog rankers exclude them
            "candidates": self.titles(candidates),
            "examples": [
                {"history": self.titles(seen[:j][-HISTORY_LENGTH:]),
                 "answer_item": seen[j], "answer_title": self.title[seen[j]]}
                for j in range(max(1, len(seen) - options.shots), len(seen))
            ] if options.shots else [],
            "reference_title": self.title[target],
        }


def candidates_of(negatives, options: SampleOptions, user: int, n_seen: int, target: int) -> tuple[int, ...]:
    """The target and the user's fixed negatives, in the sample's own seeded order."""
    rng = sample_rng(options.seed, user, n_seen)
    return order_candidates(target, negatives[user], options.candidate_order, rng)




def histories(prepared, split: str) -> dict[int, list[int]]:
    """Each user's items before the held-out row of `split`, oldest first (a sample's "seen" items)."""
    inter = by_user_time(prepared.interactions)
    kept = inter[inter["split"].isin(HISTORY_SPLITS[split]).to_numpy()]
    users, items = kept["user"].to_numpy(), kept["item"].tolist()
    bounds = (np.flatnonzero(np.diff(users)) + 1).tolist()
    return {int(users[a]): items[a:b] for a, b in zip([0, *bounds], [*bounds, len(items)])}


@gc_paused
def _build(task: str, prepared, options: SampleOptions) -> list[Sample]:
    inter = by_user_time(prepared.interactions)
    users, split = inter["user"].to_numpy(), inter["split"]
    items = inter["item"].tolist()
    if options.split == "train":
        # every training position with some history is a finetuning example; latest ones first
        train = (split == "train").to_numpy()
        variables = _Variables(prepared, options, items, train)
        bounds = np.flatnonzero(np.diff(users)) + 1  # users are contiguous
        targets = []
        for start, end in zip([0, *bounds.tolist()], [*bounds.tolist(), len(items)]):
            user = int(users[start])
            seq = [item for item, keep in zip(items[start:end], train[start:end].tolist()) if keep]
            targets += [((len(seq) - j, user), user, seq[:j], seq[j]) for j in range(len(seq) - 1, 0, -1)]
        targets.sort(key=lambda t: t[0])
        return [Sample(task, f"u{user}-p{len(seen)}", user, target,
                       LazyVariables(variables, user, seen, target), target)
                for _, user, seen, target in targets[: options.limit]]
    # valid/test: each user's first held-out row (a time split can hold out several; the preparation counts the
    # later ones, and the users too short for leave-one-out)
    variables = _Variables(prepared, options, items, split.isin(HISTORY_SPLITS[options.split]).to_numpy())
    rows = first_per_user(users, np.flatnonzero((split == options.split).to_numpy()))
    held = users[rows]
    starts = np.searchsorted(users, held, "left")
    return spread_over_users([Sample(task, f"u{user}", user, items[row],
                                     LazyVariables(variables.held_out, user, start, row), items[row])
                              for user, start, row in zip(held.tolist(), starts.tolist(), rows.tolist())], options)


class RankingTask(Task):
    """Rank items for the user; an LLM lists titles (parsed against the catalog) or scores the candidates."""

    kind, default_dataset = "ranking", "movielens-100k"
    scorings = ("generate", "likelihood")
    training_frame, recommender_method = "interactions", "rank"
    answer_within_candidates = False  # parse only the candidates' titles (else the whole catalog's)

    def build(self, prepared, options):
        return _build(self.name, prepared, options)

    def protocol(self, scoring, candidates, candidate_order):
        over = self.ranking_over(scoring)
        return {"candidates": candidates if over == "candidates" else None, "candidate_order": candidate_order,
                "ranking_over": over}

    def parse_context(self, prepared):
        from llmrec.parsing import ItemMatcher

        return ItemMatcher(prepared.items)

    def parse(self, sample, raw, matcher):
        from llmrec.parsing import parse_ranking

        return parse_ranking(raw, matcher, sample.candidates if self.answer_within_candidates else None)

    def ask(self, backend, samples, prompts, asking, context):
        if asking.scoring != "likelihood":
            return super().ask(backend, samples, prompts, asking, context)
        requests = [ScoreRequest(p, tuple(v["title"] for v in s.variables["candidates"]), asking.chat)
                    for p, s in zip(prompts, samples)]
        answers = backend.loglikelihood(requests)
        return [([round(x.logprob, 6) for x in a], rank_by_likelihood(s, a)) for s, a in zip(samples, answers)]

    def queries(self, prepared, samples, options):
        seen = histories(prepared, options.split)
        within = self.ranking_over(RECOMMENDED) == "candidates"
        return [Query(s.user, history=seen.get(s.user, []),
                      candidates=candidates_of(prepared.negatives, options, s.user, len(seen.get(s.user, [])), s.item)
                      if within else None)
                for s in samples]

    def training_rows(self, sample):
        return [(sample.user, sample.item)] + [(sample.user, int(i)) for i in sample.variables.get("seen", ())]


def rank_by_likelihood(sample: Sample, scores) -> Prediction:
    """Candidates by mean token log-probability (length-normalised), best first; ties by position."""
    means = [s.logprob / max(s.tokens, 1) for s in scores]
    order = sorted(range(len(means)), key=lambda i: (-means[i], i))
    return Prediction([sample.candidates[i] for i in order])


class SequentialTask(RankingTask):
    name = "sequential"
    description = "Recommend the next item from the user's history (ranked over the catalog)."

    def ranking_over(self, scoring):
        return "candidates" if scoring == "likelihood" else "catalog"


class DirectTask(RankingTask):
    name = "direct"
    description = "Rank candidate items (the held-out item plus sampled negatives) for the user."
    answer_within_candidates = True

    def ranking_over(self, scoring):
        return "candidates"
