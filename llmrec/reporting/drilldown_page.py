"""The drill-down section of the HTML report: the samples as JSON, one script element per table, and a
little inline JS that parses a table only when it is chosen and renders one page of rows at a time.

Nothing is fetched: the page stays one file. A page of thousands of samples opens as fast as one
without them, since the browser does not parse a table's JSON until someone looks at it.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from llmrec.files import finite_or_none
from llmrec.reporting.drilldown import Drilldown, Table

# Which filters a table of each kind offers: (name in the page's JS FILTERS, what the option says).
FILTERS = {
    "ranking": [("all", "all samples"), ("hit10", "target in the top 10"), ("miss10", "target not in the top 10"),
                ("parse_failed", "parse failures"), ("not_well_formed", "not a well-formed list"),
                ("hallucinated", "with hallucinated items"), ("out_of_candidates", "with out-of-candidate items"),
                ("duplicates", "with duplicates"), ("reparsed_differs", "read differently today"),
                ("truncated", "history truncated"), ("judged", "judged")],
    "rating": [("all", "all samples"), ("parse_failed", "parse failures"), ("parsed", "parsed"),
               ("off1", "off by 1 or more"), ("truncated", "history truncated"), ("judged", "judged")],
    "text": [("all", "all samples"), ("parse_failed", "empty answers"), ("truncated", "history truncated"),
             ("judged", "judged")],
}


def section(drilldown: Drilldown) -> str:
    if not drilldown.tables:
        return ""
    options = "".join(_option(i, t) for i, t in enumerate(drilldown.tables))
    scripts = "".join(f"<script type='application/json' id='dd-{i}'>{embed(t.to_json())}</script>"
                      for i, t in enumerate(drilldown.tables))
    filters = embed({kind: [list(f) for f in fs] for kind, fs in FILTERS.items()})
    return "\n".join([
        "<h2 id='samples'>Samples</h2>",
        "<p class='note'>Every recorded sample of each run and task: choose one, search its prompts, answers and "
        "references, filter and sort it, and click a row for the prompt, the raw answer, the parsed list with the "
        "catalogue item each mention matched and how (id, exact title, normalized title, fuzzy), the target's rank, "
        "the per-sample scores and, for judged runs, the judge's scores. A model's name in a leaderboard opens its "
        "samples here.</p>",
        "<div class='dd-controls'>"
        f"<label>run · task <select id='dd-table'>{options}</select></label>"
        "<label>search <input id='dd-search' type='search' placeholder='id, title, text…' size='22'></label>"
        "<label>show <select id='dd-filter'></select></label>"
        "<label>sort <select id='dd-sort'></select></label>"
        "<span class='dd-pager'><span id='dd-count' class='note'></span>"
        "<button id='dd-prev' type='button'>‹ prev</button><button id='dd-next' type='button'>next ›</button>"
        "</span></div>",
        "<p id='dd-note' class='note warn'></p>",
        "<div class='scroll'><table id='dd-rows' class='dd'></table></div>",
        f"<script type='application/json' id='dd-titles'>{embed(drilldown.titles)}</script>",
        f"<script type='application/json' id='dd-filters'>{filters}</script>",
        scripts,
        f"<script>{_JS_FILE.read_text(encoding='utf-8')}</script>",
    ])


def _option(index: int, table: Table) -> str:
    text = f"{table.task} · {table.dataset} — {table.label} ({len(table.samples)})"
    return (f"<option value='{index}' data-run='{escape(table.run_id)}' data-task='{escape(table.task)}'>"
            f"{escape(text)}</option>")


def embed(value: Any) -> str:
    """JSON that is safe inside a <script> element and that JSON.parse reads (no NaN: a non-finite number,
    which a record may hold for an undefined score, becomes null)."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a NaN or infinity somewhere: rare, so only then walk the whole value
        text = json.dumps(finite_or_none(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


CSS = """
.dd-controls { display: flex; flex-wrap: wrap; gap: .6rem 1rem; align-items: center; margin: .6rem 0;
               font-size: .88rem; position: sticky; top: 0; background: #fff; padding: .4rem 0; z-index: 1; }
.dd-controls select, .dd-controls input, .dd-controls button { font: inherit; }
.dd-pager { display: inline-flex; gap: .4rem; align-items: center; white-space: nowrap; }
#dd-table { max-width: 24rem; }
table.dd td { white-space: normal; text-align: left; max-width: 26rem; }
table.dd td.num { text-align: right; white-space: nowrap; }
table.dd tr.dd-row { cursor: pointer; }
table.dd tr.dd-row.open { background: #eef4fb; }
table.dd td.detail { background: #fafbfc; max-width: none; }
.dd-detail { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: .4rem 1.2rem; }
.dd-detail h4 { margin: .5rem 0 .2rem; font-size: .82rem; color: #3e4c59; }
.dd-detail pre { white-space: pre-wrap; word-break: break-word; max-height: 16rem; overflow: auto; margin: 0;
                 padding: .4rem; background: #fff; border: 1px solid #e4e7eb; font-size: .78rem; }
.dd-detail table { font-size: .78rem; margin: 0; }
.dd-detail td { white-space: normal; text-align: left; }
.dd-target { background: #d3f2dc; font-weight: 700; }
.dd-detail td:last-child { white-space: nowrap; }
.o-kept { color: #276749; } .o-duplicate { color: #a16207; } .o-hallucinated { color: #9b2c2c; }
.o-out { color: #7c3aed; }
.dd-judge { color: #0e7490; }
"""


# Read when a page is written; a plain JS file, so it reads and lints as one.
_JS_FILE = Path(__file__).with_name("drilldown.js")
