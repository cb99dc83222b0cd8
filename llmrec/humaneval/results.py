"""Reading filled sheets back with their key, and the numbers they give (definitions in llmrec.humaneval.stats)."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from llmrec.errors import LLMRecError, where
from llmrec.files import finite_or_none
from llmrec.humaneval import stats
from llmrec.humaneval.sheet import ANNOTATOR_COLUMN, KEY_FORMAT

Unit = tuple[int, str]  # (item, slot)


@dataclass
class Annotations:
    """The key and every answer given: values[column][annotator][unit] -> number."""

    key: dict
    values: dict[str, dict[str, dict[Unit, float]]]
    annotators: list[str]
    files: list[str]
    slots: dict[int, dict[str, int]] = field(init=False)  # item -> slot -> index of the run in key["runs"]

    def __post_init__(self):
        self.slots = {int(i["item"]): {s: int(r) for s, r in i["slots"].items()} for i in self.key["items"]}

    @property
    def mode(self) -> str:
        return self.key["mode"]

    @property
    def columns(self) -> list[str]:
        return list(self.key["criteria"])

    def run_of(self, unit: Unit) -> int:
        return self.slots[unit[0]][unit[1]]


@dataclass
class SystemResult:
    run_id: str
    label: str
    means: dict[str, tuple[float, float, float]]  # column -> (mean, ci_lo, ci_hi); score mode only
    mean_rank: tuple[float, float, float]
    n_items: int  # items on which the system got at least one answer


@dataclass
class AgreementResult:
    column: str
    level: str
    alpha: float | None
    n_units: int  # units with answers from at least two annotators
    n_annotators: int


@dataclass
class JudgeAgreement:
    judge: str
    column: str  # the human column; for ranks, compared with the judge's mean over its criteria
    judge_criterion: str
    rho: float | None
    p: float | None
    n_units: int
    pairwise: float | None
    n_pairs: int


@dataclass
class ImportResult:
    sheet: str
    task: str
    mode: str
    n_items: int
    annotators: list[str]
    n_answers: int
    systems: list[SystemResult]
    agreement: list[AgreementResult]
    judge: list[JudgeAgreement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return finite_or_none(asdict(self))


# --- reading -------------------------------------------------------------------------------------

def read_key(path: Path) -> dict:
    from llmrec.files import read_json

    key = read_json(path, expected="key.json of a human-evaluation sheet")
    required = ("sheet", "task", "mode", "criteria", "scale", "runs", "items")
    if not isinstance(key, dict) or key.get("format") != KEY_FORMAT or any(k not in key for k in required):
        raise LLMRecError(f"{path}: expected a human-evaluation key (format {KEY_FORMAT}) with "
                          f"{', '.join(required)}, as `llmrec human-eval export` writes it")
    return key


def read_annotations(files: list[Path], key: dict) -> Annotations:
    slots = {int(i["item"]): set(i["slots"]) for i in key["items"]}
    columns = list(key["criteria"])
    low, high = (1, len(key["runs"])) if key["mode"] == "rank" else tuple(key["scale"])
    values: dict[str, dict[str, dict[Unit, float]]] = {c: defaultdict(dict) for c in columns}
    annotators: list[str] = []
    for file in files:
        for line, row in _rows(file, key, columns):
            who = (row.get(ANNOTATOR_COLUMN) or "").strip() or file.stem
            unit = _unit(file, line, row, slots)
            for column in columns:
                text = (row.get(column) or "").strip()
                if not text:
                    continue  # not answered
                value = _number(file, line, column, text, low, high)
                if unit in values[column][who]:
                    raise LLMRecError(f"{where(file, line)}: {who} answered {column} of item {unit[0]} slot "
                                      f"{unit[1]} twice (in this file or an earlier one)")
                values[column][who][unit] = value
                if who not in annotators:
                    annotators.append(who)
    return Annotations(key, {c: dict(v) for c, v in values.items()}, annotators, [str(f) for f in files])


def _rows(file: Path, key: dict, columns: list[str]):
    try:
        with open(file, newline="", encoding="utf-8-sig") as handle:  # -sig: a spreadsheet's byte-order mark
            reader = csv.DictReader(handle)
            missing = [c for c in ("sheet", "item", "slot", *columns) if c not in (reader.fieldnames or [])]
            if missing:
                raise LLMRecError(f"{file}: expected the sheet's columns, missing: {', '.join(missing)}")
            for line, row in enumerate(reader, start=2):
                if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                    continue  # a blank line
                if (row.get("sheet") or "").strip() != key["sheet"]:
                    raise LLMRecError(f"{where(file, line)}: belongs to sheet '{row.get('sheet')}', the key is "
                                      f"sheet '{key['sheet']}'")
                yield line, row
    except OSError as e:
        raise LLMRecError(f"{file}: cannot read ({e.strerror or e})") from None
    except (csv.Error, UnicodeDecodeError) as e:
        raise LLMRecError(f"{file}: expected a CSV file in UTF-8 ({e})") from None


def _unit(file: Path, line: int, row: dict, slots: dict[int, set[str]]) -> Unit:
    try:
        item = int(str(row["item"]).strip())
    except ValueError:
        raise LLMRecError(f"{where(file, line)}: item: expected an item number, got '{row['item']}'") from None
    slot = str(row["slot"]).strip()
    if item not in slots or slot not in slots[item]:
        raise LLMRecError(f"{where(file, line)}: the key has no item {item} with slot {slot}")
    return item, slot


def _number(file: Path, line: int, column: str, text: str, low: int, high: int) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (low <= value <= high) or not value.is_integer():
        raise LLMRecError(f"{where(file, line)}: {column}: expected a whole number from {low} to {high}, "
                          f"got '{text}'")
    return value


# --- numbers -------------------------------------------------------------------------------------

def item_means(per_annotator: dict[str, dict[Unit, float]]) -> dict[Unit, float]:
    """unit -> the mean over annotators of the values it got."""
    sums: dict[Unit, list[float]] = defaultdict(list)
    for answers in per_annotator.values():
        for unit, value in answers.items():
            sums[unit].append(value)
    return {unit: float(np.mean(v)) for unit, v in sums.items()}


def rank_values(data: Annotations) -> tuple[dict[str, dict[Unit, float]], int]:
    """annotator -> unit -> rank: the given ranks (rank mode), or in score mode the ranks within an item of
    each output's mean over the criteria the annotator scored for every output of that item. Items an
    annotator answered for some outputs only are left out; returns them counted."""
    incomplete = 0
    ranks: dict[str, dict[Unit, float]] = {}
    for who in data.annotators:
        ranks[who] = {}
        for item, item_slots in data.slots.items():
            units = [(item, s) for s in sorted(item_slots)]
            given = {c: data.values[c].get(who, {}) for c in data.columns}
            complete = [c for c in data.columns if all(u in given[c] for u in units)]
            if not complete:
                incomplete += any(u in given[c] for c in data.columns for u in units)
                continue
            if data.mode == "rank":
                ranks[who].update({u: given[complete[0]][u] for u in units})
            else:
                means = [float(np.mean([given[c][u] for c in complete])) for u in units]
                ranks[who].update(zip(units, stats.ranks_of(means)))
    return ranks, incomplete


def system_results(data: Annotations, ranks: dict[str, dict[Unit, float]], seed: int) -> list[SystemResult]:
    results = []
    by_column = {c: item_means(data.values[c]) for c in data.columns} if data.mode == "score" else {}
    mean_ranks = item_means(ranks)
    for index, run in enumerate(data.key["runs"]):
        mine = lambda values: [v for u, v in sorted(values.items()) if data.run_of(u) == index]  # noqa: E731
        means = {c: stats.mean_ci(mine(values), seed=seed) for c, values in by_column.items()}
        answered = {u[0] for values in [*by_column.values(), mean_ranks] for u in values if data.run_of(u) == index}
        results.append(SystemResult(run["run_id"], run["label"], means, stats.mean_ci(mine(mean_ranks), seed=seed),
                                    len(answered)))
    return results


def agreement_results(data: Annotations) -> list[AgreementResult]:
    units = sorted({(int(i["item"]), s) for i in data.key["items"] for s in i["slots"]})
    at = {u: j for j, u in enumerate(units)}
    levels = ("ordinal",) if data.mode == "rank" else stats.LEVELS
    domain = (range(1, len(data.key["runs"]) + 1) if data.mode == "rank"
              else range(data.key["scale"][0], data.key["scale"][1] + 1))
    results = []
    for column in data.columns:
        answered = [w for w in data.annotators if data.values[column].get(w)]
        matrix = np.full((len(answered), len(units)), np.nan)
        for row, who in enumerate(answered):
            for unit, value in data.values[column][who].items():
                matrix[row, at[unit]] = value
        n_units = int(np.sum(np.sum(~np.isnan(matrix), axis=0) >= 2)) if answered else 0
        for level in levels:
            alpha = stats.krippendorff_alpha(matrix, level, [float(v) for v in domain]) if answered else None
            results.append(AgreementResult(column, level, alpha, n_units, len(answered)))
    return results


def import_annotations(files: list[Path], key_path: Path, seed: int = 0) -> ImportResult:
    from llmrec.humaneval.judged import judge_agreement

    key = read_key(key_path)
    if not files:
        raise LLMRecError("expected at least one filled sheet (CSV)")
    data = read_annotations(files, key)
    n_answers = sum(len(v) for per in data.values.values() for v in per.values())
    if not n_answers:
        raise LLMRecError(f"{', '.join(map(str, files))}: no answers in them (every answer column is blank)")
    ranks, incomplete = rank_values(data)
    notes = []
    if incomplete:
        notes.append(f"{incomplete} (annotator, item) pairs left some outputs unanswered: left out of the ranks")
    if len(data.annotators) < 2:
        notes.append("one annotator: agreement needs at least two")
    judge, judge_notes = judge_agreement(data, ranks)
    return ImportResult(sheet=key["sheet"], task=key["task"], mode=key["mode"], n_items=len(key["items"]),
                        annotators=data.annotators, n_answers=n_answers,
                        systems=system_results(data, ranks, seed), agreement=agreement_results(data),
                        judge=judge, notes=notes + judge_notes)



# --- printing ------------------------------------------------------------------------------------

def _interval(m: tuple[float, float, float]) -> str:
    mean, lo, hi = m
    return "-" if not math.isfinite(mean) else f"{mean:.2f} [{lo:.2f}, {hi:.2f}]"


def _number_or_dash(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def render_text(result: ImportResult) -> str:
    lines = [f"human evaluation · {result.task} · sheet {result.sheet} · {result.mode} mode · "
             f"{result.n_items} items · {len(result.annotators)} annotators ({', '.join(result.annotators)}) · "
             f"{result.n_answers} answers", ""]
    score_columns = list(result.systems[0].means) if result.systems else []
    header = ["system", *score_columns, "mean rank (1 = best)", "items"]
    rows = [[s.label, *(_interval(s.means[c]) for c in score_columns), _interval(s.mean_rank), str(s.n_items)]
            for s in result.systems]
    lines += _table(header, rows)
    lines += ["", "95% CIs: percentile bootstrap over items. Inter-annotator agreement (Krippendorff's alpha):", ""]
    lines += _table(["criterion", "level", "alpha", "units rated twice+", "annotators"],
                    [[a.column, a.level, _number_or_dash(a.alpha), str(a.n_units), str(a.n_annotators)]
                     for a in result.agreement])
    if result.judge:
        lines += ["", "Judge vs annotators (Spearman's rho over outputs; pairwise: share of an item's output pairs "
                  "both order the same way):", ""]
        lines += _table(["judge", "human", "judge's", "rho", "p", "outputs", "pairwise", "pairs"],
                        [[j.judge, j.column, j.judge_criterion, _number_or_dash(j.rho), _number_or_dash(j.p),
                          str(j.n_units), _number_or_dash(j.pairwise), str(j.n_pairs)] for j in result.judge])
    lines += ["", *(f"note: {n}" for n in result.notes)] if result.notes else []
    return "\n".join(lines).rstrip() + "\n"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in rows)]

