"""The drill-down section of the HTML report: the samples as JSON, one script element per table, and a
little inline JS that parses a table only when it is chosen and renders one page of rows at a time.

Nothing is fetched: the page stays one file. A page of thousands of samples opens as fast as one
without them, since the browser does not parse a table's JSON until someone looks at it.
"""

from __future__ import annotations

import json
import math
from html import escape
from typing import Any

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
        "<label>search <input id='dd-search' type='search' placeholder='id, title, text…' size='28'></label>"
        "<label>show <select id='dd-filter'></select></label>"
        "<label>sort <select id='dd-sort'></select></label>"
        "<span id='dd-count' class='note'></span>"
        "<button id='dd-prev' type='button'>‹ prev</button><button id='dd-next' type='button'>next ›</button>"
        "</div>",
        "<p id='dd-note' class='note warn'></p>",
        "<div class='scroll'><table id='dd-rows' class='dd'></table></div>",
        f"<script type='application/json' id='dd-titles'>{embed(drilldown.titles)}</script>",
        f"<script type='application/json' id='dd-filters'>{filters}</script>",
        scripts,
        f"<script>{_JS}</script>",
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
        text = json.dumps(_finite(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


CSS = """
.dd-controls { display: flex; flex-wrap: wrap; gap: .6rem 1rem; align-items: center; margin: .6rem 0;
               font-size: .88rem; position: sticky; top: 0; background: #fff; padding: .4rem 0; z-index: 1; }
.dd-controls select, .dd-controls input, .dd-controls button { font: inherit; }
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
.o-kept { color: #276749; } .o-duplicate { color: #a16207; } .o-hallucinated { color: #9b2c2c; }
.o-out { color: #7c3aed; }
.dd-judge { color: #0e7490; }
"""

_JS = r"""
(function () {
  const $ = (id) => document.getElementById(id);
  const TITLES = JSON.parse($('dd-titles').textContent);
  const FILTER_OPTIONS = JSON.parse($('dd-filters').textContent);
  const PAGE = 50, SHOWN_LIST = 20;
  const tables = {};
  const state = {index: null, query: '', filter: 'all', sort: 'file', page: 0, open: new Set()};
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;',
                                                           "'": '&#39;'}[c]));
  const pred = (s) => s.record.prediction || {};
  const FILTERS = {
    all: () => true,
    hit10: (s) => s.rank !== null && s.rank <= 10,
    miss10: (s) => s.rank === null || s.rank > 10,
    parse_failed: (s) => !!pred(s).parse_failed,
    parsed: (s) => !pred(s).parse_failed,
    not_well_formed: (s) => pred(s).well_formed === false,
    hallucinated: (s) => pred(s).hallucinated > 0,
    out_of_candidates: (s) => pred(s).out_of_candidates > 0,
    duplicates: (s) => pred(s).duplicates > 0,
    reparsed_differs: (s) => !!s.reparsed_differs,
    off1: (s) => ((s.record.scores || {}).abs_error || 0) >= 1,
    truncated: (s) => s.record.truncated_history > 0,
    judged: (s) => !!s.record.judge && Object.keys(s.record.judge).length > 0,
  };

  function table(index) {
    if (!(index in tables)) {
      const t = JSON.parse($('dd-' + index).textContent);
      t.titles = (t.catalogue && TITLES[t.catalogue]) || {};
      tables[index] = t;
    }
    return tables[index];
  }
  function itemText(t, id) {
    if (id === null || id === undefined) return '—';
    const title = t.titles[String(id)];
    return title === undefined ? 'item ' + id : title + ' (' + id + ')';
  }
  function haystack(t, s) {
    if (s.hay === undefined) {
      const r = s.record, p = pred(s);
      const parts = [r.sample_id, r.user, r.item, r.prompt, typeof r.raw === 'string' ? r.raw : '',
                     t.kind === 'ranking' ? itemText(t, r.reference) : String(r.reference),
                     r.item === null || r.item === undefined ? '' : itemText(t, r.item),
                     typeof p.value === 'string' ? p.value : ''];
      if (Array.isArray(p.value)) parts.push(...p.value.slice(0, 10).map((i) => itemText(t, i)));
      (s.mentions || []).forEach((m) => parts.push(m[0]));
      s.hay = parts.filter((x) => x !== null && x !== undefined).join('\n').toLowerCase();
    }
    return s.hay;
  }
  function value(s, key) {
    if (key === 'rank') return s.rank === null ? Infinity : s.rank;
    const [where, name] = key.split(':');
    const v = ((where === 'judge' ? s.record.judge : s.record.scores) || {})[name];
    return typeof v === 'number' ? v : null;
  }
  function selected(t) {
    const q = state.query.toLowerCase(), keep = FILTERS[state.filter] || FILTERS.all;
    let rows = t.samples.map((s, i) => [s, i]).filter(([s]) => keep(s) && (!q || haystack(t, s).includes(q)));
    if (state.sort !== 'file') {
      const [key, dir] = state.sort.split('|'), sign = dir === 'desc' ? -1 : 1;
      rows.sort((a, b) => {
        const x = value(a[0], key), y = value(b[0], key);
        if (x === null || y === null) return (x === null) - (y === null) || a[1] - b[1];
        return sign * (x - y) || a[1] - b[1];
      });
    }
    return rows;
  }
  const fmt = (v) => typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : (v === null || v === undefined ? '—' : String(v));
  function short(t, s) {
    const r = s.record, p = pred(s);
    if (Array.isArray(p.value)) {
      const top = p.value.slice(0, 3).map((i) => esc(itemText(t, i))).join('; ');
      return (p.parse_failed ? '<i>parse failure</i> ' : '') + top + (p.value.length > 3 ? ' …' : '');
    }
    if (t.kind === 'rating') return p.parse_failed ? '<i>parse failure</i>' : esc(fmt(p.value)) + ' (target ' + esc(fmt(r.reference)) + ')';
    const text = typeof p.value === 'string' ? p.value : (typeof r.raw === 'string' ? r.raw : '');
    return esc(text.length > 140 ? text.slice(0, 140) + '…' : text);
  }
  function shownScores(t) { return t.scores.filter((n) => !n.startsWith('strict_')).slice(0, 6); }
  function render() {
    const t = table(state.index), rows = selected(t), pages = Math.max(1, Math.ceil(rows.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    const first = state.page * PAGE, page = rows.slice(first, first + PAGE), scores = shownScores(t);
    const head = ['#', 'sample', 'user', t.kind === 'ranking' ? 'target' : 'item'];
    if (t.kind === 'ranking') head.push('rank');
    head.push('answer', ...scores, ...(t.judge.length ? ['judge'] : []));
    let html = '<thead><tr>' + head.map((h) => '<th class="left">' + esc(h) + '</th>').join('') + '</tr></thead><tbody>';
    for (const [s, i] of page) {
      const r = s.record, open = state.open.has(i);
      html += '<tr class="dd-row' + (open ? ' open' : '') + '" data-i="' + i + '"><td class="num">' + (i + 1) + '</td><td>' +
        esc(r.sample_id) + '</td><td class="num">' + esc(fmt(r.user)) + '</td><td>' +
        esc(itemText(t, t.kind === 'ranking' ? r.reference : r.item)) + '</td>';
      if (t.kind === 'ranking') html += '<td class="num">' + (s.rank === null ? '—' : s.rank) + '</td>';
      html += '<td>' + short(t, s) + '</td>' + scores.map((n) => '<td class="num">' + fmt((r.scores || {})[n]) + '</td>').join('');
      if (t.judge.length) html += '<td class="dd-judge">' + esc(t.judge.map((n) => n + ' ' + fmt((r.judge || {})[n])).join(', ')) + '</td>';
      html += '</tr>';
      if (open) html += '<tr><td class="detail" colspan="' + head.length + '">' + detail(t, s) + '</td></tr>';
    }
    $('dd-rows').innerHTML = html + '</tbody>';
    $('dd-count').textContent = rows.length ? (first + 1) + '–' + (first + page.length) + ' of ' + rows.length +
      (rows.length < t.samples.length ? ' (of ' + t.samples.length + ')' : '') : 'no sample matches';
    $('dd-prev').disabled = state.page === 0;
    $('dd-next').disabled = state.page >= pages - 1;
  }
  function block(title, body) { return '<div><h4>' + esc(title) + '</h4>' + body + '</div>'; }
  function pre(text) { return '<pre>' + esc(text) + '</pre>'; }
  function detail(t, s) {
    const r = s.record, p = pred(s), parts = [];
    parts.push(block('prompt', r.prompt ? pre(r.prompt) : '<p class="note">none: a recommender answers from the data, not a prompt</p>'));
    parts.push(block('raw answer', r.raw === null || r.raw === undefined ? '<p class="note">none</p>' :
      pre(typeof r.raw === 'string' ? r.raw : JSON.stringify(r.raw))));
    if (s.mentions) {
      const rows = s.mentions.map((m, k) => {
        const cls = m[3] === 'out of candidates' ? 'o-out' : 'o-' + m[3];
        return '<tr' + (m[1] === r.reference ? ' class="dd-target"' : '') + '><td>' + (k + 1) + '</td><td>' + esc(m[0]) +
          '</td><td>' + esc(m[1] === null ? '—' : itemText(t, m[1])) + '</td><td>' + esc(m[2] || '—') +
          '</td><td class="' + cls + '">' + esc(m[3]) + '</td></tr>';
      }).join('');
      parts.push(block('mentions read from the answer (' + s.mentions.length + ')', s.mentions.length ?
        '<table><tr><th class="left">#</th><th class="left">mention</th><th class="left">catalogue item</th>' +
        '<th class="left">matched by</th><th class="left">outcome</th></tr>' + rows + '</table>' : '<p class="note">none</p>') +
        (s.reparsed_differs ? '<p class="note warn">today\'s parser reads another list out of this answer than the one recorded</p>' : ''));
    }
    if (Array.isArray(p.value)) {
      const items = p.value.slice(0, SHOWN_LIST).map((i, k) => '<tr' + (i === r.reference ? ' class="dd-target"' : '') +
        '><td>' + (k + 1) + '</td><td>' + esc(itemText(t, i)) + '</td></tr>').join('');
      const more = p.value.length > SHOWN_LIST ? '<p class="note">… ' + (p.value.length - SHOWN_LIST) + ' more; the target is ' +
        (s.rank === null ? 'not in the list' : 'at rank ' + s.rank) + '</p>' : '';
      parts.push(block('parsed list (' + p.value.length + ' items)', p.value.length ? '<table>' + items + '</table>' + more :
        '<p class="note">empty</p>'));
    } else {
      parts.push(block('parsed answer', pre(p.parse_failed ? '(parse failure)' : fmt(p.value))));
    }
    parts.push(block('reference', t.kind === 'ranking' ? pre(itemText(t, r.reference) + (s.rank === null ? ', not in the list' : ', rank ' + s.rank)) :
      pre(fmt(r.reference))));
    const flags = ['parse_failed', 'well_formed', 'hallucinated', 'out_of_candidates', 'duplicates']
      .filter((k) => k in p).map((k) => k + ' ' + p[k]).join(', ');
    const scores = Object.entries(r.scores || {}).map(([k, v]) => k + ' ' + fmt(v)).join(', ');
    parts.push(block('scores', pre((scores || 'none') + '\n' + flags + (r.truncated_history ? '\ntruncated history: ' + r.truncated_history : ''))));
    if (r.judge) parts.push(block('judge', pre(Object.entries(r.judge).map(([k, v]) => k + ' ' + fmt(v)).join('\n'))));
    return '<div class="dd-detail">' + parts.join('') + '</div>';
  }
  function choose(index) {
    state.index = index; state.page = 0; state.open = new Set();
    const t = table(index), filters = FILTER_OPTIONS[t.kind] || FILTER_OPTIONS.text;
    if (!filters.some(([name]) => name === state.filter)) state.filter = 'all';
    $('dd-filter').innerHTML = filters.map(([name, text]) => '<option value="' + name + '"' +
      (name === state.filter ? ' selected' : '') + '>' + esc(text) + '</option>').join('');
    const sorts = [['file', 'recorded order']];
    if (t.kind === 'ranking') sorts.push(['rank|asc', 'rank, best first']);
    for (const n of t.scores) sorts.push(['score:' + n + '|desc', n + ' ↓'], ['score:' + n + '|asc', n + ' ↑']);
    for (const n of t.judge) sorts.push(['judge:' + n + '|desc', 'judge ' + n + ' ↓'], ['judge:' + n + '|asc', 'judge ' + n + ' ↑']);
    if (!sorts.some(([v]) => v === state.sort)) state.sort = 'file';
    $('dd-sort').innerHTML = sorts.map(([v, text]) => '<option value="' + v + '"' + (v === state.sort ? ' selected' : '') +
      '>' + esc(text) + '</option>').join('');
    $('dd-note').textContent = t.note || '';
    render();
  }
  $('dd-table').addEventListener('change', (e) => choose(e.target.value));
  let typing;
  $('dd-search').addEventListener('input', (e) => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.query = e.target.value.trim(); state.page = 0; render(); }, 150);
  });
  $('dd-filter').addEventListener('change', (e) => { state.filter = e.target.value; state.page = 0; render(); });
  $('dd-sort').addEventListener('change', (e) => { state.sort = e.target.value; state.page = 0; render(); });
  $('dd-prev').addEventListener('click', () => { state.page -= 1; render(); });
  $('dd-next').addEventListener('click', () => { state.page += 1; render(); });
  $('dd-rows').addEventListener('click', (e) => {
    const row = e.target.closest('tr.dd-row');
    if (!row || window.getSelection().toString()) return;  // selecting text does not toggle
    const i = Number(row.dataset.i);
    state.open.has(i) ? state.open.delete(i) : state.open.add(i);
    render();
  });
  document.addEventListener('click', (e) => {
    const link = e.target.closest('[data-dd-run]');
    if (!link) return;
    const option = [...$('dd-table').options].find((o) => o.dataset.run === link.dataset.ddRun &&
                                                         o.dataset.task === link.dataset.ddTask);
    if (option) { $('dd-table').value = option.value; choose(option.value); }
  });
  // report.html#run=RUN_ID&task=TASK&filter=NAME&q=TEXT&open=N opens a view straight away (a link, a screenshot)
  const params = new URLSearchParams(location.hash.slice(1));
  const first = [...$('dd-table').options].find((o) => o.dataset.run === params.get('run') && o.dataset.task === params.get('task'));
  state.filter = params.get('filter') || 'all';
  state.query = params.get('q') || '';
  $('dd-search').value = state.query;
  choose(first ? first.value : $('dd-table').value);
  if (params.get('open') !== null) { state.open.add(Number(params.get('open'))); render(); }
  if (first) $('samples').scrollIntoView();
})();
"""
