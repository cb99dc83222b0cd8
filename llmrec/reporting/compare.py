"""Paired comparison of two runs: is model A better than model B on the same samples?

Two runs scored under the same protocol (llmrec.protocol: same prepared data, candidates and metric
definitions) answered the same samples, so their difference is measured sample by sample. For every
metric of a task this module recomputes A's and B's values on the samples both runs hold, from the
recorded predictions and references and with the per-sample sufficient statistics of llmrec.metrics
(so corpus BLEU and RMSE are recomputed from summed statistics, never averaged per sample), and gives

- a 95% paired percentile-bootstrap interval of A - B: each resample draws shared samples with
  replacement, the same draws for A and B;
- a two-sided paired permutation p-value: under "no difference" A's and B's answers to a sample are
  exchangeable, so each permutation swaps them on a random subset of samples and recomputes A - B;
  p = (1 + #{|d_perm| >= |d_obs|}) / (1 + n_perm). When at most n_perm distinct swaps exist (2^m for
  the m samples whose statistics differ) they are all enumerated and p is exact.

The verdict follows the interval: "A better" / "B better" when it excludes 0 (on the metric's good
side), else "no clear difference". Each metric is its own test, uncorrected for multiplicity.

Computation (`compare_runs`, `compare_task`, `paired_rows`) is here; printing (`print_comparisons`,
`shown_metrics`) is in llmrec.reporting.compare_print and importable from here too.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from llmrec.reporting.compare_print import print_comparisons, shown, shown_metrics  # noqa: F401 (printing, re-exported)
from llmrec.errors import LLMRecError
from llmrec.files import finite_or_none
from llmrec.metrics import LOWER_IS_BETTER, family, resampled_sums, total_sums
from llmrec.protocol import PROTOCOL_KEYS, SETTING_KEYS, differences, differences_or_unknown, sample_ids_sha256
from llmrec.records import SAMPLES_FILE, SampleLog
from llmrec.types import Prediction

DEFAULT_N_BOOT = 2000  # bootstrap resamples: the 2.5% and 97.5% percentiles rest on 50 resamples each
DEFAULT_N_PERM = 10000  # random swaps: p-values resolved to about 1e-4
DEFAULT_SEED = 2023  # bench's default seed
RECORD_KEYS = ("task", "sample_id", "prediction", "reference")
# The sample set may differ (pairing handles it); everything else that makes numbers comparable must agree.
SAMPLE_SET_KEYS = ("n_samples", "sample_ids_sha256")
COMPARED_KEYS = tuple(k for k in PROTOCOL_KEYS if k not in SAMPLE_SET_KEYS)
# Differences closer than this (relative) to the observed one count as ties: sums in another order round apart.
TIE_TOLERANCE = 1e-9
_PERMUTATION_STREAM = 1  # the permutations draw from their own stream of the seed, not the bootstrap's


# --- results --------------------------------------------------------------------------------------

@dataclass
class MetricComparison:
    """One metric on the shared samples. NaN where a value is undefined (RMSE when nothing parsed)."""

    metric: str
    a: float
    b: float
    diff: float  # a - b
    ci: tuple[float, float]  # 95% paired bootstrap interval of a - b
    p: float  # two-sided paired permutation p-value
    p_exact: bool  # every distinct swap was enumerated
    lower_is_better: bool
    better: str | None  # "A", "B", or None: the interval contains 0 (or is undefined)

    @property
    def verdict(self) -> str:
        if self.better:
            return f"{self.better} better"
        return "no clear difference" if math.isfinite(self.diff) else "undefined"


@dataclass
class TaskComparison:
    task: str
    kind: str
    dataset: str
    model_a: str
    model_b: str
    run_a: str  # metrics.json paths
    run_b: str
    n_shared: int
    n_differing: int  # shared samples on which A's and B's per-sample statistics differ
    only_a: int  # samples only A holds (left out of every number)
    only_b: int
    settings: list[tuple[str, Any, Any]]  # SETTING_KEYS on which the runs differ: (key, A's, B's)
    n_boot: int
    n_perm: int
    seed: int
    metrics: list[MetricComparison] = field(default_factory=list)
    scoring: tuple[str | None, str | None] = (None, None)  # A's and B's ("classic", "generate", "likelihood")

    def to_json(self) -> dict:
        return finite_or_none({**asdict(self), "metrics": [{**asdict(m), "verdict": m.verdict}
                                                             for m in self.metrics]})


# --- loading and pairing --------------------------------------------------------------------------

def load_pair(path_a: Path, path_b: Path) -> tuple[dict, dict]:
    """Both runs from run folders or metrics.json files (validated as `llmrec report` reads them)."""
    from llmrec.reporting.report import load_run  # lazily: the report may show paired comparisons itself

    return load_run(path_a), load_run(path_b)


def label(run: dict) -> str:
    return run["model"] + (f" + {run['adapter']}" if run.get("adapter") else "")


def protocol_differences(entry_a: dict, entry_b: dict) -> list[tuple[str, Any, Any]]:
    """(key, A's value, B's value) for each protocol key (sample-set keys aside) the entries disagree on
    or an older run did not record (llmrec.protocol.differences_or_unknown)."""
    return differences_or_unknown(entry_a, entry_b, COMPARED_KEYS)


def samples_file(run: dict) -> Path:
    return Path(run["path"]).parent / SAMPLES_FILE


def read_samples(run: dict, task: str) -> dict[str, dict]:
    """sample_id -> record of one task from the samples.jsonl next to the run's metrics.json.

    The records must be the samples metrics.json was scored on (by their ids' hash, else their count)."""
    file = samples_file(run)
    if not file.is_file():
        raise LLMRecError(f"{file}: no such file (a run folder keeps its per-sample records there; "
                          "comparing runs needs them)")
    log = SampleLog.read(file, required=RECORD_KEYS)  # a later line wins, as when the run resumed
    records = {str(sample_id): r for (t, sample_id), r in log.records.items() if t == task}
    _check_complete(file, run["tasks"][task], task, records)
    return records


def _check_complete(file: Path, entry: dict, task: str, records: dict[str, dict]) -> None:
    expected, digest = entry.get("n_samples"), entry.get("sample_ids_sha256")
    if isinstance(expected, int) and len(records) < expected:
        raise LLMRecError(f"{file}: holds {len(records)} {task} samples, metrics.json next to it says "
                          f"{expected} (an interrupted run? run its bench command again to complete it)")
    if digest and sample_ids_sha256(records) != digest:
        raise LLMRecError(f"{file}: its {task} sample ids are not those metrics.json next to it was scored on")


@dataclass
class Pairing:
    shared: list[str]  # sorted: the bootstrap and permutations see the same order whatever the files' order
    only_a: int
    only_b: int


def pair(samples_a: dict[str, dict], samples_b: dict[str, dict]) -> Pairing:
    shared = sorted(samples_a.keys() & samples_b.keys())
    return Pairing(shared, len(samples_a) - len(shared), len(samples_b) - len(shared))


def _predictions(records: dict[str, dict], ids: Sequence[str], file: Path) -> list[Prediction]:
    try:
        return [Prediction.from_json(records[i]["prediction"]) for i in ids]
    except TypeError:
        raise LLMRecError(f"{file}: a prediction is not a recorded Prediction "
                          "(value, parse_failed, hallucinated, out_of_candidates, duplicates)") from None


def _shared_references(pairing: Pairing, samples_a: dict, samples_b: dict, task: str) -> list:
    """The references, which must be the same for both runs: a pair scored against two targets is no pair."""
    refs = []
    for i in pairing.shared:
        ref_a, ref_b = samples_a[i]["reference"], samples_b[i]["reference"]
        if ref_a != ref_b:
            raise LLMRecError(f"{task} sample {i}: reference {ref_a!r} in A, {ref_b!r} in B; "
                              "the runs were not scored on the same data")
        refs.append(ref_a)
    return refs


# --- the statistics -------------------------------------------------------------------------------

def differing(stats_a: np.ndarray, stats_b: np.ndarray) -> np.ndarray:
    """Which samples' statistics differ between A and B: only these can move a paired difference."""
    return np.any(stats_a != stats_b, axis=1)


def bootstrap_differences(to_values: Callable, stats_a: np.ndarray, stats_b: np.ndarray, n_boot: int,
                          seed: int) -> dict[str, np.ndarray]:
    """metric -> A - B over `n_boot` paired resamples of the shared samples.

    A's and B's statistics sit side by side in one matrix, so one draw of sample counts serves both."""
    width = stats_a.shape[1]
    sums = resampled_sums(np.hstack([stats_a, stats_b]), n_boot, seed)
    values_a, values_b = to_values(sums[:, :width]), to_values(sums[:, width:])
    with np.errstate(invalid="ignore"):
        return {name: values_a[name] - values_b[name] for name in values_a}


def swap_masks(m: int, n_perm: int, rng: np.random.Generator, chunk: int):
    """(masks, exact): chunks of rows of m zeros and ones, 1 = swap A's and B's answers to that sample.

    All 2^m masks when there are at most n_perm of them (an exact test), else n_perm random ones."""
    if m < 63 and 2 ** m <= n_perm:
        for start in range(0, 2 ** m, chunk):
            codes = np.arange(start, min(start + chunk, 2 ** m))
            yield ((codes[:, None] >> np.arange(m)) & 1).astype(float), True
        return
    for start in range(0, n_perm, chunk):
        yield (rng.random((min(chunk, n_perm - start), m)) < 0.5).astype(float), False


def permutation_differences(to_values: Callable, stats_a: np.ndarray, stats_b: np.ndarray, n_perm: int,
                            seed: int) -> tuple[dict[str, np.ndarray], bool]:
    """(metric -> A - B under each swap of A's and B's answers, exact).

    Swapping sample i moves B's statistics into A's sums and A's into B's: A's swapped sums are
    A_total + mask @ (B - A), B's are B_total - mask @ (B - A). Samples with equal statistics in both
    runs change nothing when swapped, so only the m samples that differ are drawn."""
    delta = (stats_b - stats_a)[differing(stats_a, stats_b)]
    m = delta.shape[0]
    total_a, total_b = total_sums(stats_a), total_sums(stats_b)
    rng = np.random.default_rng([seed, _PERMUTATION_STREAM])
    parts: dict[str, list[np.ndarray]] = {}
    exact = False
    for masks, exact in swap_masks(m, n_perm, rng, chunk=max(1, 2_000_000 // max(m, 1))):
        shift = masks @ delta
        values_a, values_b = to_values(total_a + shift), to_values(total_b - shift)
        with np.errstate(invalid="ignore"):
            for name in values_a:
                parts.setdefault(name, []).append(values_a[name] - values_b[name])
    return {name: np.concatenate(p) for name, p in parts.items()}, exact


def permutation_p(observed: float, permuted: np.ndarray, exact: bool) -> float:
    """Two-sided p-value: the share of swaps whose |A - B| reaches the observed one.

    Random swaps count the observed assignment once more (Phipson & Smyth 2010: never p = 0); the exact
    enumeration contains it already. Swaps that leave the metric undefined (RMSE of a side with no
    parsed answer) are left out."""
    defined = permuted[~np.isnan(permuted)]
    if not math.isfinite(observed) or not defined.size:
        return math.nan
    extreme = int(np.count_nonzero(np.abs(defined) >= abs(observed) - TIE_TOLERANCE * max(1.0, abs(observed))))
    return extreme / defined.size if exact else (1 + extreme) / (1 + defined.size)


def percentile_ci(draws: np.ndarray) -> tuple[float, float]:
    """95% percentile interval; resamples where the metric is undefined are skipped (as metrics.score does)."""
    if np.isnan(draws).all():
        return math.nan, math.nan
    lo, hi = np.nanpercentile(draws, [2.5, 97.5])
    return float(lo), float(hi)


def better_side(metric: str, ci: tuple[float, float]) -> str | None:
    """"A" or "B" when the interval of A - B excludes 0, on the metric's good side; else None."""
    lo, hi = ci
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 <= hi:
        return None
    a_higher = lo > 0
    return "B" if a_higher == (metric in LOWER_IS_BETTER) else "A"


def compare_stats(kind: str, stats_a: np.ndarray, stats_b: np.ndarray, *, n_boot: int = DEFAULT_N_BOOT,
                  n_perm: int = DEFAULT_N_PERM, seed: int = DEFAULT_SEED) -> list[MetricComparison]:
    """Every metric of `kind` from paired per-sample statistics (row i of both is the same sample)."""
    if stats_a.shape != stats_b.shape or not stats_a.shape[0]:
        raise ValueError(f"paired statistics need equal, non-empty shapes: {stats_a.shape} and {stats_b.shape}")
    metrics = family(kind)
    to_values = metrics.to_values
    value_a, value_b = to_values(total_sums(stats_a)), to_values(total_sums(stats_b))
    boot = bootstrap_differences(to_values, stats_a, stats_b, n_boot, seed)
    permuted, exact = permutation_differences(to_values, stats_a, stats_b, n_perm, seed)
    rows = []
    for name in metrics.metrics:
        a, b = float(value_a[name][0]), float(value_b[name][0])
        diff = a - b if math.isfinite(a) and math.isfinite(b) else math.nan
        ci = percentile_ci(boot[name]) if math.isfinite(diff) else (math.nan, math.nan)
        rows.append(MetricComparison(name, a, b, diff, ci, permutation_p(diff, permuted[name], exact), exact,
                                     name in LOWER_IS_BETTER, better_side(name, ci)))
    return rows


# --- runs -----------------------------------------------------------------------------------------

def compare_task(run_a: dict, run_b: dict, task: str, *, n_boot: int = DEFAULT_N_BOOT,
                 n_perm: int = DEFAULT_N_PERM, seed: int = DEFAULT_SEED) -> TaskComparison:
    """The paired comparison of one task both loaded runs hold (see `load_pair`).

    Raises LLMRecError when the protocols differ, when no sample is shared, or when a run's records
    are incomplete."""
    from llmrec.tasks import get_task

    entry_a, entry_b = run_a["tasks"][task], run_b["tasks"][task]
    mismatched = protocol_differences(entry_a, entry_b)
    if mismatched:
        raise LLMRecError(_mismatch_message({task: mismatched}))
    kind = get_task(task).kind
    samples_a, samples_b = read_samples(run_a, task), read_samples(run_b, task)
    pairing = pair(samples_a, samples_b)
    if not pairing.shared:
        raise LLMRecError(f"{task}: the runs share no sample ({len(samples_a)} in A, {len(samples_b)} in B); "
                          "a paired comparison needs the same samples")
    refs = _shared_references(pairing, samples_a, samples_b, task)
    to_stats = family(kind).to_stats
    stats_a = to_stats(_predictions(samples_a, pairing.shared, samples_file(run_a)), refs)
    stats_b = to_stats(_predictions(samples_b, pairing.shared, samples_file(run_b)), refs)
    return TaskComparison(
        task=task, kind=kind, dataset=entry_a["dataset"], model_a=label(run_a), model_b=label(run_b),
        run_a=run_a["path"], run_b=run_b["path"], n_shared=len(pairing.shared),
        n_differing=int(differing(stats_a, stats_b).sum()), only_a=pairing.only_a, only_b=pairing.only_b,
        settings=differences(entry_a, entry_b, SETTING_KEYS), n_boot=n_boot, n_perm=n_perm, seed=seed,
        metrics=compare_stats(kind, stats_a, stats_b, n_boot=n_boot, n_perm=n_perm, seed=seed),
        scoring=(entry_a.get("scoring"), entry_b.get("scoring")))


def paired_rows(run_a: dict, run_b: dict, task: str, **options) -> list[dict]:
    """For reports: one plain dict per metric of `task`, A and B being runs as `llmrec.reporting.report.load_run` returns.

    Keys: metric, a, b, diff (a - b), ci ([lo, hi] of a - b), p, p_exact, lower_is_better, better
    ("A", "B" or None), verdict (text); undefined numbers are None. Call `comparable` first: this raises
    LLMRecError when the task's protocols differ or the runs share no sample. `options`: n_boot, n_perm,
    seed."""
    return compare_task(run_a, run_b, task, **options).to_json()["metrics"]


def comparable(run_a: dict, run_b: dict, task: str) -> bool:
    """Whether both runs hold `task` under the same protocol (their samples may still not overlap)."""
    return (task in run_a["tasks"] and task in run_b["tasks"]
            and not protocol_differences(run_a["tasks"][task], run_b["tasks"][task]))


def chosen_tasks(run_a: dict, run_b: dict, tasks: Sequence[str] | None) -> list[str]:
    """The tasks asked for (each must be in both runs), else every task both hold, in A's order."""
    if tasks:
        for run, side in ((run_a, "A"), (run_b, "B")):
            missing = [t for t in tasks if t not in run["tasks"]]
            if missing:
                raise LLMRecError(f"--task: run {side} ({run['path']}) has no {', '.join(missing)} "
                                  f"(it holds {', '.join(run['tasks'])})")
        return list(dict.fromkeys(tasks))
    common = [t for t in run_a["tasks"] if t in run_b["tasks"]]
    if not common:
        raise LLMRecError(f"the runs share no task: A ({run_a['path']}) holds {', '.join(run_a['tasks'])}, "
                          f"B ({run_b['path']}) holds {', '.join(run_b['tasks'])}")
    return common


def compare_runs(path_a: Path, path_b: Path, tasks: Sequence[str] | None = None, *, n_boot: int = DEFAULT_N_BOOT,
                 n_perm: int = DEFAULT_N_PERM, seed: int = DEFAULT_SEED) -> list[TaskComparison]:
    """Compare two runs task by task. Every chosen task's protocol is checked before any number is computed."""
    if n_boot < 1 or n_perm < 1:
        raise LLMRecError(f"--n-boot and --n-perm: expected positive numbers, got {n_boot} and {n_perm}")
    run_a, run_b = load_pair(path_a, path_b)
    names = chosen_tasks(run_a, run_b, tasks)
    mismatched = {t: d for t in names if (d := protocol_differences(run_a["tasks"][t], run_b["tasks"][t]))}
    if mismatched:
        raise LLMRecError(_mismatch_message(mismatched))
    return [compare_task(run_a, run_b, t, n_boot=n_boot, n_perm=n_perm, seed=seed) for t in names]


def _mismatch_message(mismatched: dict[str, list[tuple[str, Any, Any]]]) -> str:
    lines = [f"  {task}: {key}: A {shown(a)}, B {shown(b)}" for task, diffs in mismatched.items()
             for key, a, b in diffs]
    return ("not comparable: the runs were not scored under the same protocol (data, candidates, seed, metric "
            "definitions), so their difference would not be the models'. They differ in:\n" + "\n".join(lines))

