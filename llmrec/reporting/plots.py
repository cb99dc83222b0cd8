"""The report's plots, one set per protocol block, drawn with matplotlib's Agg backend.

Each function takes the rows of one block (never rows of different protocols: their numbers are
not comparable) and the report's colours by run id, and returns a matplotlib Figure.
"""

from __future__ import annotations

import textwrap

from llmrec.reporting.facts import header, is_percent_scale
from llmrec.reporting.groups import Row

RANKING_KS = (1, 5, 10)
_RATE_COLORS = ("#c2410c", "#7c3aed", "#0e7490", "#a16207", "#be185d")


def figure(width: float, height: float):
    # Figure objects (not pyplot) keep no global state and need no display.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def ranking_curves(rows: list[Row], colors: dict[str, str], title: str = ""):
    """HR@k and NDCG@k for k in 1, 5, 10, one line per row with its 95% CI."""
    fig = figure(7.6, 3.2)
    axes = fig.subplots(1, 2, sharey=True)
    n = len(rows)
    for family, ax in zip(("hr", "ndcg"), axes):
        for i, row in enumerate(rows):
            offset = (i - (n - 1) / 2) * 0.3 / max(n, 1)  # nudge models apart so error bars stay visible
            xs, ys, lo, hi = [], [], [], []
            for k in RANKING_KS:
                # With one relevant item NDCG@1 equals HR@1 (1/log2(2) = 1); runs store only hr@1.
                metric = "hr@1" if (family, k) == ("ndcg", 1) else f"{family}@{k}"
                value = row.value(metric)
                if value is None:
                    continue
                err = _yerr(row, metric, value)
                xs.append(k + offset), ys.append(value), lo.append(err[0]), hi.append(err[1])
            if xs:
                ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", markersize=4, capsize=2.5, linewidth=1.5,
                            elinewidth=0.9, color=colors[row.run_id], label=row.label)
        ax.set_title(f"{family.upper()}@k", fontsize=10)
        ax.set_xticks(RANKING_KS)
        ax.set_xlabel("k", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    axes[0].set_ylabel("score, 95% CI", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10, y=1.02)
    _legend(fig, axes[0], n)
    return fig


def quality_bars(rows: list[Row], metrics: list[str], colors: dict[str, str], title: str):
    """One cluster of bars per metric, one bar per row with its 95% CI."""
    import numpy as np

    fig = figure(max(4.0, 0.9 * len(metrics) + 2.2), 3.2)
    ax = fig.subplots()
    n = len(rows)
    width = 0.8 / n
    x = np.arange(len(metrics))
    for i, row in enumerate(rows):
        values = [row.value(m) for m in metrics]
        heights = [0.0 if v is None else v for v in values]
        errs = np.array([_yerr(row, m, v) if v is not None else (0.0, 0.0) for m, v in zip(metrics, values)]).T
        ax.bar(x + (i - (n - 1) / 2) * width, heights, width, color=colors[row.run_id], label=row.label,
               yerr=errs, capsize=2, error_kw={"elinewidth": 0.8})
    ax.set_xticks(x, [header(m) for m in metrics], fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    scale = " (×100)" if all(is_percent_scale(m) for m in metrics) else ""
    ax.set_title(f"{title}{scale}, 95% CI", fontsize=10)
    _legend(fig, ax, n)
    return fig


def validity_bars(rows: list[Row], rates: list[str], title: str = ""):
    """Horizontal bars, one cluster per row: the rows read like the table's, the bars' colours name the rates."""
    import numpy as np

    fig = figure(4.4, 1.0 + 0.15 * len(rows) * len(rates) + 0.2 * len(rows))
    ax = fig.subplots()
    height = 0.8 / len(rates)
    y = np.arange(len(rows))
    for j, rate in enumerate(rates):
        values = [row.value(rate) for row in rows]
        widths = [0.0 if v is None else v * 100 for v in values]
        errs = np.array([_yerr(row, rate, v) if v is not None else (0.0, 0.0) for row, v in zip(rows, values)]).T
        ax.barh(y + (j - (len(rates) - 1) / 2) * height, widths, height, color=_RATE_COLORS[j % len(_RATE_COLORS)],
                label=rate.removesuffix("_rate").replace("_", " "), xerr=errs * 100, capsize=2,
                error_kw={"elinewidth": 0.8})
    ax.set_yticks(y, [_wrap(row.label) for row in rows], fontsize=8)
    ax.invert_yaxis()  # same order as the table
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel("% (lower is better)", fontsize=9)
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"{title + ' · ' if title else ''}validity rates, 95% CI", fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False, fontsize=8)
    return fig


def _yerr(row: Row, metric: str, value: float) -> tuple[float, float]:
    ci = (row.metrics.get(metric) or {}).get("ci")
    if ci is None:
        return (0.0, 0.0)
    return (max(value - ci[0], 0.0), max(ci[1] - value, 0.0))


def _legend(fig, axes, rows: int) -> None:
    handles, labels = axes.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.02), ncol=2 if rows > 1 else 1,
                   frameon=False, fontsize=8)


def _wrap(label: str, width: int = 28) -> str:
    """Long row labels break between words so the y axis does not squeeze the plot."""
    return "\n".join(textwrap.wrap(label, width, break_long_words=False)) if len(label) > width else label
