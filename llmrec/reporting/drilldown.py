"""The report's per-sample drill-down: every recorded sample of each (run, task) a leaderboard shows.

Each table is one run's task: its samples.jsonl records, verbatim, each with what the report adds for
a reader: the target's rank in the parsed list, and (for a generated ranking) the mentions read out of the
raw answer again, each with the catalogue item it matched, the step that matched it (id, exact,
normalized, fuzzy: llmrec.parsing.titles.ItemMatcher.match_how) and what became of it (kept, duplicate,
out of candidates, hallucinated), derived from the recorded list. The catalogue comes from the prepared
data the run used (its dataset fingerprint); without it the lists show item ids only.

Judge scores: a record's "judge" mapping of criterion -> score, when a run has been judged, fills the
drill-down's judge column (JUDGE_KEY).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from llmrec.records import SAMPLES_FILE, SampleLog
from llmrec.reporting.groups import Report, Row

JUDGE_KEY = "judge"  # a sample record's judge scores: {criterion: score}
SHOWN_RANKS = 100  # a ranked list's items that get their titles in the page (classic models return 100)


@dataclass
class Sample:
    """One recorded sample and what the drill-down derives from it."""

    record: dict  # the samples.jsonl line, unchanged
    rank: int | None = None  # ranking: 1-based position of the target in the parsed list, None when absent
    mentions: list[list] | None = None  # generated ranking: [text, item or None, step or None, outcome]
    reparsed_differs: bool = False  # today's parser reads another list out of the raw answer than was recorded

    def to_json(self) -> dict:
        out: dict[str, Any] = {"record": self.record, "rank": self.rank}
        if self.mentions is not None:
            out["mentions"] = self.mentions
        if self.reparsed_differs:
            out["reparsed_differs"] = True
        return out


@dataclass
class Table:
    """The samples of one run's task, in samples.jsonl order."""

    run_id: str
    label: str
    task: str
    dataset: str
    kind: str
    catalogue: str | None  # key into Drilldown.titles, None when the prepared data was not found
    samples: list[Sample]
    note: str = ""  # what the reader should know (no samples.jsonl, no catalogue)

    def score_names(self) -> list[str]:
        return list(dict.fromkeys(n for s in self.samples for n in (s.record.get("scores") or {})))

    def judge_names(self) -> list[str]:
        return list(dict.fromkeys(n for s in self.samples for n in (s.record.get(JUDGE_KEY) or {})))

    def to_json(self) -> dict:
        return {"run_id": self.run_id, "label": self.label, "task": self.task, "dataset": self.dataset,
                "kind": self.kind, "catalogue": self.catalogue, "note": self.note,
                "scores": self.score_names(), "judge": self.judge_names(),
                "samples": [s.to_json() for s in self.samples]}


@dataclass
class Drilldown:
    tables: list[Table]
    titles: dict[str, dict[str, str]] = field(default_factory=dict)  # catalogue key -> item id -> title


def build(report: Report) -> Drilldown:
    """One table per leaderboard row (a run's task), in the leaderboards' order."""
    catalogues = _Catalogues()
    logs: dict[str, dict[str, list[dict]] | None] = {}  # each run's samples.jsonl is read once
    tables = []
    for group in report.groups:
        for row in (row for block in group.blocks for row in block.rows):
            if row.run["path"] not in logs:
                logs[row.run["path"]] = run_samples(row.run)
            by_task = logs[row.run["path"]]
            records = None if by_task is None else by_task.get(group.task, [])
            tables.append(_table(row, records, group.task, group.dataset, group.kind, catalogues))
    return Drilldown(tables, catalogues.used_titles())


def run_samples(run: dict) -> dict[str, list[dict]] | None:
    """A run's recorded samples by task, in file order, or None when the run folder has no samples.jsonl."""
    path = Path(run["path"]).parent / SAMPLES_FILE
    if not path.is_file():
        return None
    by_task: dict[str, list[dict]] = {}
    for (task, _), record in SampleLog.read(path).records.items():
        by_task.setdefault(task, []).append(record)
    from llmrec.judging.attach import sample_judge_scores  # `llmrec judge` records its verdicts apart

    judged = sample_judge_scores(path.parent, run["run_id"], by_task)
    for task, records in by_task.items():
        by_task[task] = [r | {JUDGE_KEY: judged[task][r["sample_id"]]} if r["sample_id"] in judged.get(task, {})
                         else r for r in records]
    return by_task


def _table(row: Row, records: list[dict] | None, task: str, dataset: str, kind: str,
           catalogues: "_Catalogues") -> Table:
    if records is None:
        return Table(row.run_id, row.label, task, dataset, kind, None, [],
                     note=f"no {SAMPLES_FILE} next to {row.run['path']}: nothing to drill into")
    catalogue = catalogues.get(dataset, row.entry.get("fingerprint"))
    samples = [_sample(r, kind, catalogue) for r in records]
    note = ""
    if catalogue is None:
        from llmrec.data.cache import default_cache_dir

        note = (f"the prepared data of {dataset} (fingerprint {str(row.entry.get('fingerprint'))[:12]}) is not in "
                f"{default_cache_dir()} (set LLMREC_DATA_DIR to the data folder the run used): items are shown by "
                "id" + (", and mentions are not matched again" if kind == "ranking" else ""))
    return Table(row.run_id, row.label, task, dataset, kind, catalogue.key if catalogue else None, samples, note)


def _sample(record: dict, kind: str, catalogue: "_Catalogue | None") -> Sample:
    sample = Sample(record)
    if catalogue is not None:
        catalogue.use([record.get("item")])
    if kind != "ranking":
        return sample
    ranked = (record.get("prediction") or {}).get("value") or []
    reference = record.get("reference")
    sample.rank = ranked.index(reference) + 1 if reference in ranked else None
    if catalogue is not None:
        catalogue.use(ranked[:SHOWN_RANKS], [reference])
        raw = record.get("raw")
        if isinstance(raw, str):  # a generated answer (likelihood scoring records the log-probabilities)
            sample.mentions = catalogue.mentions(raw, ranked)
            sample.reparsed_differs = _differs(sample.mentions, record.get("prediction") or {})
    return sample


# A mention's outcome and the prediction count it adds to.
_COUNTED = {"hallucinated": "hallucinated", "out of candidates": "out_of_candidates", "duplicate": "duplicates"}


def _differs(mentions: list[list], prediction: dict) -> bool:
    """Whether the mentions read again tell another story than the recorded prediction: another list, or
    other counts of hallucinated, out-of-candidate and duplicate items (the parser changed since)."""
    if [m[1] for m in mentions if m[3] == "kept"] != (prediction.get("value") or []):
        return True
    return any(sum(m[3] == outcome for m in mentions) != (prediction.get(count) or 0)
               for outcome, count in _COUNTED.items())


class _Catalogue:
    """One dataset's items: their titles, and the matcher the ranking tasks parse answers with."""

    def __init__(self, key: str, items):
        self.key = key
        self.items = items
        self.title = items["title"].astype(str).to_dict()
        self.used: set[int] = set()

    @cached_property
    def matcher(self):
        """Built on first use: only generated ranking answers are read again."""
        from llmrec.parsing import ItemMatcher

        return ItemMatcher(self.items)

    def use(self, *item_lists) -> None:
        self.used.update(i for items in item_lists for i in items if isinstance(i, int))

    def mentions(self, raw: str, ranked: list[int]) -> list[list]:
        """Each mention of the answer: its text, the item it names, the step that matched it, and its outcome.

        The outcome comes from the recorded list: the first mention of a listed item was kept, a later one
        was a duplicate, an item off the list was outside the candidates, a mention naming nothing was
        hallucinated (llmrec.parsing.parse_ranking counts them in that way)."""
        from llmrec.parsing import read_ranking

        listed, kept = set(ranked), set()
        out = []
        for text in read_ranking(raw, self.matcher)[0]:
            item, step = self.matcher.match_how(text)
            if item is None:
                outcome = "hallucinated"
            elif item in kept:
                outcome = "duplicate"
            elif item in listed:
                outcome = "kept"
                kept.add(item)
            else:
                outcome = "out of candidates"
            if item is not None:
                self.used.add(item)
            out.append([text, item, step, outcome])
        return out


class _Catalogues:
    """The prepared datasets' catalogues, read once per fingerprint."""

    def __init__(self):
        self.loaded: dict[str, _Catalogue | None] = {}

    def get(self, dataset: str, fingerprint: str | None) -> _Catalogue | None:
        if not fingerprint:
            return None
        if fingerprint not in self.loaded:
            items = _prepared_items(dataset, fingerprint)
            self.loaded[fingerprint] = None if items is None else _Catalogue(f"{dataset}@{fingerprint[:12]}", items)
        return self.loaded[fingerprint]

    def used_titles(self) -> dict[str, dict[str, str]]:
        return {c.key: {str(i): c.title[i] for i in sorted(c.used) if i in c.title}
                for c in self.loaded.values() if c is not None}


def _prepared_items(dataset: str, fingerprint: str):
    """The items frame of the preparation a run used, or None when it is not in the prepared-data folder."""
    from llmrec.data.cache import default_cache_dir, read_prepared, safe_name

    folder = default_cache_dir() / f"{safe_name(dataset)}-{fingerprint[:12]}"
    prepared = read_prepared(folder, fingerprint, verify=False) if folder.is_dir() else None
    return None if prepared is None else prepared.items
