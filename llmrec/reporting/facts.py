"""What the report knows about metric names: scale, direction, column order, headline, formatting.

Unknown names (a metric added after this module) still render: they sort after the known ones,
read as higher-is-better on [0, 1] unless their name says otherwise (a `_rate` is a validity rate).
"""

from __future__ import annotations

from llmrec.metrics import LOWER_IS_BETTER

_RANKING = tuple(f"{family}@{k}" for family in ("hr", "ndcg") for k in (1, 5, 10)) + ("mrr",)
QUALITY_ORDER = (
    "rmse", "mae", "coverage",
    *_RANKING, *(f"strict_{m}" for m in _RANKING),
    "bleu-1", "bleu-4", "rouge-1", "rouge-2", "rouge-l", "p5-rouge-1", "p5-rouge-2", "p5-rouge-l",
)  # fmt: skip
VALIDITY_ORDER = ("parse_failure_rate", "strict_parse_failure_rate", "hallucination_rate", "out_of_candidate_rate",
                  "duplicate_rate")
# Rows are sorted by the first of these a table has, best first; the next ones break ties.
HEADLINE = {"ranking": ("hr@10", "ndcg@10"), "rating": ("rmse", "mae"), "text": ("rouge-1", "p5-rouge-1", "bleu-4")}
_PERCENT_PREFIXES = ("bleu", "rouge", "p5-rouge")


def is_validity(metric: str) -> bool:
    """Validity rates (parse failures, hallucinations, ...): the share of answers with a problem."""
    return metric.endswith("_rate")


def lower_is_better(metric: str) -> bool:
    return metric in LOWER_IS_BETTER or is_validity(metric)


def is_percent_scale(metric: str) -> bool:
    """BLEU and ROUGE (also P5's ROUGE) are reported x100; everything else lives on [0, 1] or the rating scale."""
    return metric.startswith(_PERCENT_PREFIXES)


def ordered(names: set[str] | list[str], order: tuple[str, ...]) -> list[str]:
    """Known names in the given order, then unknown ones alphabetically."""
    names = set(names)
    known = [n for n in order if n in names]
    return known + sorted(names - set(known))


def task_kind(task: str, metric_names: set[str]) -> str:
    """rating, ranking or text: from the task's registered kind, else from the metrics it reports."""
    from llmrec.tasks import TASKS

    if task in TASKS:
        return TASKS[task].kind
    if any(n.startswith(("hr@", "ndcg@")) for n in metric_names):
        return "ranking"
    return "rating" if "rmse" in metric_names else "text"


def format_value(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    if is_validity(metric):  # rates read best as percentages
        return f"{value * 100:.1f}%"
    return f"{value:.{2 if is_percent_scale(metric) else 4}f}"


def format_half_ci(metric: str, half_ci: float | None) -> str:
    """'± 0.0120', or '' when there is no interval (or a zero-width one, e.g. coverage 1.0)."""
    if not half_ci:
        return ""
    if is_validity(metric):
        return f"± {half_ci * 100:.1f}"
    return f"± {half_ci:.{2 if is_percent_scale(metric) else 4}f}"


def header(metric: str) -> str:
    """A column heading: the name with its direction, validity rates without the `_rate` suffix."""
    if is_validity(metric):
        return metric.removesuffix("_rate").replace("_", " ") + " ↓"
    return metric + (" ↓" if lower_is_better(metric) else " ↑")


def direction(metric: str) -> str:
    return "lower is better" if lower_is_better(metric) else "higher is better"
