"""Leaderboard structure: one group per (task, dataset), split into blocks of one protocol each.

Rows of one block agree on every llmrec.protocol.PROTOCOL_KEYS value: they were scored on the same
samples under the same protocol, so their numbers may be compared and the best one marked. Rows
of different blocks may not. An entry that lacks some protocol key (a run recorded before the keys
existed) has an unknown protocol: it goes to a block of its own, where nothing is marked best.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llmrec.protocol import PROTOCOL_KEYS, SETTING_KEYS, differences, protocol_of
from llmrec.reporting.facts import (
    HEADLINE,
    QUALITY_ORDER,
    VALIDITY_ORDER,
    format_half_ci,
    format_value,
    is_validity,
    lower_is_better,
    ordered,
    task_kind,
)

# template_hash is in the record and in the gate; the template's name says enough in a table.
SHOWN_SETTINGS = tuple(k for k in SETTING_KEYS if k != "template_hash")
_HASHES = {"fingerprint": 12, "sample_ids_sha256": 8}  # enough characters to tell them apart


class Row:
    """One (run, task) entry of a leaderboard."""

    def __init__(self, run: dict, task: str):
        self.run = run
        self.run_id: str = run["run_id"]
        self.entry: dict = run["tasks"][task]
        self.metrics: dict[str, dict] = self.entry["metrics"]
        # llmrec.reporting.select.label_runs sets "label"; runs given straight to a Report show the model
        self.label = run.get("label") or run["model"] + (f" · {run['label_extra']}" if run.get("label_extra") else "")

    def value(self, metric: str) -> float | None:
        m = self.metrics.get(metric)
        return None if m is None else m.get("value")

    def half_ci(self, metric: str) -> float | None:
        ci = (self.metrics.get(metric) or {}).get("ci")
        return None if ci is None else (ci[1] - ci[0]) / 2

    @property
    def n(self) -> int | None:
        """Samples scored: the recorded n_samples, else (older runs) the sample count."""
        n = self.entry.get("n_samples")
        return n if n is not None else (self.entry.get("counts") or {}).get("samples")

    @property
    def truncated(self) -> int:
        return int((self.entry.get("counts") or {}).get("truncated") or 0)

    def settings(self) -> dict[str, object]:
        """How the model was asked: the recorded settings that apply (not null), and the adapter."""
        shown = {k: self.entry[k] for k in SHOWN_SETTINGS if self.entry.get(k) is not None}
        if self.run.get("label_extra"):
            shown["adapter"] = self.run["label_extra"]
        return shown

    def settings_text(self) -> str:
        return ", ".join(f"{k}={_compact(v)}" for k, v in self.settings().items()) or "—"


class Cell:
    """One metric of one row, formatted, and whether it is the best of its column within its block."""

    def __init__(self, block: "Block", row: Row, metric: str):
        self.value = row.value(metric)
        self.text = format_value(metric, self.value)
        self.ci = format_half_ci(metric, row.half_ci(metric)) if self.value is not None else ""
        self.best = self.value is not None and self.value == block.best(metric)


@dataclass
class Block:
    """Rows on one protocol, sorted best first by the group's headline metrics."""

    letter: str
    rows: list[Row]
    known: bool

    @property
    def entry(self) -> dict:
        return self.rows[0].entry

    def best(self, metric: str) -> float | None:
        """The value to mark best, only among comparable rows, and only if there is something to point out."""
        if not self.known or len(self.rows) < 2:
            return None
        values = [v for r in self.rows if (v := r.value(metric)) is not None]
        if len(set(values)) < 2:
            return None  # a lone value, or a tie of every row, has nothing to point out
        return min(values) if lower_is_better(metric) else max(values)

    def missing_keys(self) -> list[str]:
        return [k for k in PROTOCOL_KEYS if any(k not in r.entry for r in self.rows)]


@dataclass
class Group:
    """The leaderboard of one (task, dataset): its blocks, metric columns and sort order."""

    task: str
    dataset: str
    rows: list[Row]
    blocks: list[Block] = field(init=False)

    def __post_init__(self):
        names = {n for r in self.rows for n in r.metrics}
        self.kind = task_kind(self.task, names)
        self.quality = ordered({n for n in names if not is_validity(n)}, QUALITY_ORDER)
        self.validity = ordered({n for n in names if is_validity(n)}, VALIDITY_ORDER)
        self.headline = [m for m in HEADLINE.get(self.kind, ()) if m in names]
        self.blocks = _blocks(self.rows, self.headline)

    @property
    def title(self) -> str:
        return f"{self.task} · {self.dataset}"

    def base_columns(self) -> list[str]:
        """model, n, settings, and 'truncated' only when some prompt had to be shortened."""
        return ["model", "n", "settings"] + (["truncated"] if any(r.truncated for r in self.rows) else [])

    def sort_note(self) -> str:
        if not self.headline:
            return "Rows in the order of their labels."
        first, *rest = self.headline
        ties = f"; ties by {', '.join(rest)}" if rest else ""
        within = " within each protocol" if len(self.blocks) > 1 else ""
        return f"Rows sorted{within} by {first} ({'lowest' if lower_is_better(first) else 'highest'} first){ties}."


def group_runs(runs: list[dict]) -> list[Group]:
    rows: dict[tuple[str, str], list[Row]] = {}
    for run in runs:
        for task in run["tasks"]:
            row = Row(run, task)
            rows.setdefault((task, row.entry["dataset"]), []).append(row)
    from llmrec.tasks import TASKS

    order = {t: i for i, t in enumerate(TASKS.names())}  # the registry's order; unknown tasks after them
    groups = [Group(task, dataset, r) for (task, dataset), r in rows.items()]
    return sorted(groups, key=lambda g: (order.get(g.task, len(order)), g.task, g.dataset))


def has_protocol(entry: dict) -> bool:
    return all(k in entry for k in PROTOCOL_KEYS)


def _blocks(rows: list[Row], headline: list[str]) -> list[Block]:
    """Known protocols first, the most samples (then the most rows) first; unknown protocols last."""
    by_protocol: dict[tuple, list[Row]] = {}
    unknown: list[Row] = []
    for row in rows:
        if has_protocol(row.entry):
            by_protocol.setdefault(protocol_of(row.entry), []).append(row)
        else:
            unknown.append(row)
    known = sorted(by_protocol.items(), key=lambda kv: (-(kv[1][0].n or 0), -len(kv[1]), kv[0]))
    parts = [(r, True) for _, r in known] + ([(unknown, False)] if unknown else [])
    blocks = []
    for i, (block_rows, is_known) in enumerate(parts):
        block_rows.sort(key=lambda r: _sort_key(r, headline))
        _disambiguate(block_rows)
        blocks.append(Block(_letter(i), block_rows, is_known))
    return blocks


def _sort_key(row: Row, headline: list[str]) -> tuple:
    key = []
    for metric in headline:
        value = row.value(metric)
        key.append((value is None, 0.0 if value is None else value if lower_is_better(metric) else -value))
    return (*key, row.label, row.run_id)


def _disambiguate(rows: list[Row]) -> None:
    """Rows of one block with the same label get the settings that tell them apart, else their run id."""
    by_label: dict[str, list[Row]] = {}
    for row in rows:
        by_label.setdefault(row.label, []).append(row)
    for same in by_label.values():
        if len(same) < 2:
            continue
        keys = [k for k in dict.fromkeys(k for r in same for k in r.settings())
                if len({_compact(r.settings().get(k)) for r in same}) > 1]
        for row in same:
            extra = ", ".join(f"{k}={_compact(row.settings().get(k))}" for k in keys)
            row.label = f"{row.label} ({extra})" if extra else row.label
        clashing = [row for row in same if sum(r.label == row.label for r in same) > 1]
        for row in clashing:
            row.label = f"{row.label} ({row.run_id})"


def _letter(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"P{i + 1}"


# ---------------------------------------------------------------- describing protocols


# How each protocol key reads in a block's caption, in the order a reader needs them.
_DESCRIBE = {
    "n_samples": lambda v: f"{v} samples",
    "sample_ids_sha256": lambda v: f"sample ids {_compact(v, 8)}",
    "candidates": lambda v: f"{v} candidates",
    "candidate_order": lambda v: f"{v} order",
    "ranking_over": lambda v: f"ranked over the {'whole catalog' if v == 'catalog' else v}",
    "split": lambda v: f"{v} split",
    "seed": lambda v: f"seed {v}",
    "fingerprint": lambda v: f"data {_compact(v, 12)}",
    "metrics_version": lambda v: f"metrics v{v}",
}
_SKIP_WHEN = {"candidate_order": lambda e: e.get("candidates") is None}  # no candidate list, no order


def block_caption(group: Group, block: Block) -> tuple[str, str]:
    """A block's name and what a reader must know before comparing its rows with other blocks' rows."""
    if not block.known:
        missing = ", ".join(block.missing_keys())
        return "Protocol unknown", (f"recorded before runs stored their protocol (no {missing}): "
                                    "not known to be comparable with any other row, so nothing is marked best")
    reference = group.blocks[0]
    if len(group.blocks) == 1:
        return "Protocol", describe_protocol(block.entry)
    if block is reference:
        return f"Protocol {block.letter}", describe_protocol(block.entry)
    return f"Protocol {block.letter}", f"differs from {reference.letter} in {describe_difference(reference, block)}"


def describe_protocol(entry: dict) -> str:
    """The protocol of a task entry in a line: '943 samples (sample ids 5019b895), test split, ...'."""
    parts = []
    for key in [*_DESCRIBE, *(k for k in PROTOCOL_KEYS if k not in _DESCRIBE)]:
        value = entry.get(key)
        if key == "dataset" or value is None or _SKIP_WHEN.get(key, lambda e: False)(entry):
            continue
        parts.append(_DESCRIBE.get(key, lambda v, k=key: f"{k} {_compact(v)}")(value))
    return ", ".join(parts)


def describe_difference(reference: Block, block: Block) -> str:
    """What sets `block`'s protocol apart from `reference`'s: 'candidate_order: shuffled → target-first'."""
    keys = [k for k in PROTOCOL_KEYS if k != "dataset"]  # one group, one dataset
    return "; ".join(f"{key}: {_compact(a, _HASHES.get(key))} → {_compact(b, _HASHES.get(key))}"
                     for key, a, b in differences(reference.entry, block.entry, keys))


def _compact(value: object, width: int | None = None) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return text[:width] if width and len(text) > width else text


# ---------------------------------------------------------------- the whole report


# matplotlib's tab10, then ten darker or mid tones of its tab20b: saturated enough to read on white,
# distinct colours for up to 20 runs.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#6b6ecf", "#8ca252", "#bd9e39",
           "#d6616b", "#ce6dbd")


def run_colors(runs: list[dict]) -> dict[str, str]:
    """One colour per run id, from the sorted run ids: a run keeps its colour in every table and plot."""
    ids = sorted({run["run_id"] for run in runs})
    return {run_id: PALETTE[i % len(PALETTE)] for i, run_id in enumerate(ids)}


@dataclass
class Report:
    """What every section of the report reads: the runs, their leaderboards and the runs' colours."""

    runs: list[dict]
    groups: list[Group] = field(init=False)
    colors: dict[str, str] = field(init=False)

    def __post_init__(self):
        self.groups = group_runs(self.runs)
        self.colors = run_colors(self.runs)
