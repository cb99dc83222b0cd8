// The drill-down of llmrec's HTML report (llmrec/reporting/drilldown_page.py embeds it): parses a table's
// JSON when it is chosen, filters, searches and sorts its samples, and renders one page of rows at a time.
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
  const fmt = (v) => {
    if (v === null || v === undefined) return '—';
    return typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : String(v);
  };
  const cell = (html, cls) => `<td${cls ? ` class="${cls}"` : ''}>${html}</td>`;
  const note = (text) => `<p class="note">${esc(text)}</p>`;
  const pre = (text) => `<pre>${esc(text)}</pre>`;
  const block = (title, body) => `<div><h4>${esc(title)}</h4>${body}</div>`;
  const row = (cells, target) => `<tr${target ? ' class="dd-target"' : ''}>${cells.join('')}</tr>`;
  const heads = (names) => `<tr>${names.map((h) => `<th class="left">${esc(h)}</th>`).join('')}</tr>`;

  function short(t, s) {
    const r = s.record, p = pred(s);
    const failed = p.parse_failed ? '<i>parse failure</i> ' : '';
    if (Array.isArray(p.value)) {
      const top = p.value.slice(0, 3).map((i) => esc(itemText(t, i))).join('; ');
      const unusable = [['hallucinated', 'hallucinated'], ['out_of_candidates', 'out of candidates'],
                        ['duplicates', 'duplicates']].filter(([k]) => p[k] > 0).map(([k, text]) => `${p[k]} ${text}`);
      const counts = unusable.length ? ` <span class="note">(${esc(unusable.join(', '))})</span>` : '';
      return failed + (top || '<i>no usable item</i>') + (p.value.length > 3 ? ' …' : '') + counts;
    }
    if (t.kind === 'rating') return failed || `${esc(fmt(p.value))} (target ${esc(fmt(r.reference))})`;
    const text = typeof p.value === 'string' ? p.value : (typeof r.raw === 'string' ? r.raw : '');
    return esc(text.length > 140 ? text.slice(0, 140) + '…' : text);
  }
  const shownScores = (t) => t.scores.filter((n) => !n.startsWith('strict_')).slice(0, 6);

  function render() {
    const t = table(state.index), rows = selected(t), pages = Math.max(1, Math.ceil(rows.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    const first = state.page * PAGE, page = rows.slice(first, first + PAGE), scores = shownScores(t);
    const ranking = t.kind === 'ranking';
    const head = ['#', 'sample', 'user', ranking ? 'target' : 'item', ...(ranking ? ['rank'] : []), 'answer',
                  ...scores, ...(t.judge.length ? ['judge'] : [])];
    let html = `<thead>${heads(head)}</thead><tbody>`;
    for (const [s, i] of page) {
      const r = s.record, open = state.open.has(i);
      const cells = [cell(i + 1, 'num'), cell(esc(r.sample_id)), cell(esc(fmt(r.user)), 'num'),
                     cell(esc(itemText(t, ranking ? r.reference : r.item)))];
      if (ranking) cells.push(cell(s.rank === null ? '—' : s.rank, 'num'));
      cells.push(cell(short(t, s)), ...scores.map((n) => cell(fmt((r.scores || {})[n]), 'num')));
      if (t.judge.length) {
        cells.push(cell(esc(t.judge.map((n) => `${n} ${fmt((r.judge || {})[n])}`).join(', ')), 'dd-judge'));
      }
      html += `<tr class="dd-row${open ? ' open' : ''}" data-i="${i}">${cells.join('')}</tr>`;
      if (open) html += `<tr><td class="detail" colspan="${head.length}">${detail(t, s)}</td></tr>`;
    }
    $('dd-rows').innerHTML = html + '</tbody>';
    const of = rows.length < t.samples.length ? ` (of ${t.samples.length})` : '';
    $('dd-count').textContent = rows.length ? `${first + 1}–${first + page.length} of ${rows.length}${of}`
                                            : 'no sample matches';
    $('dd-prev').disabled = state.page === 0;
    $('dd-next').disabled = state.page >= pages - 1;
  }

  function mentions(t, s) {
    const reference = s.record.reference;
    const rows = s.mentions.map((m, k) => row([
      cell(k + 1), cell(esc(m[0])), cell(esc(m[1] === null ? '—' : itemText(t, m[1]))), cell(esc(m[2] || '—')),
      cell(esc(m[3]), m[3] === 'out of candidates' ? 'o-out' : 'o-' + m[3])], m[1] === reference));
    const body = rows.length ? `<table>${heads(['#', 'mention', 'catalogue item', 'matched by', 'outcome'])}` +
                               `${rows.join('')}</table>` : note('none');
    const differs = s.reparsed_differs ? '<p class="note warn">today\'s parser reads another list or other counts ' +
                                         'out of this answer than the ones recorded</p>' : '';
    return block(`mentions read from the answer (${rows.length})`, body + differs);
  }
  function parsed(t, s) {
    const r = s.record, p = pred(s);
    if (!Array.isArray(p.value)) return block('parsed answer', pre(p.parse_failed ? '(parse failure)' : fmt(p.value)));
    if (!p.value.length) return block('parsed list (empty)', note('empty'));
    const items = p.value.slice(0, SHOWN_LIST).map((i, k) => row([cell(k + 1), cell(esc(itemText(t, i)))],
                                                                 i === r.reference));
    const where = s.rank === null ? 'not in the list' : `at rank ${s.rank}`;
    const more = p.value.length > SHOWN_LIST ? note(`… ${p.value.length - SHOWN_LIST} more; the target is ${where}`) : '';
    const count = `${p.value.length} item${p.value.length === 1 ? '' : 's'}`;
    return block(`parsed list (${count})`, `<table>${items.join('')}</table>${more}`);
  }
  function detail(t, s) {
    const r = s.record, p = pred(s), parts = [];
    parts.push(block('prompt', r.prompt ? pre(r.prompt) : note('none: a recommender answers from the data, not a prompt')));
    const raw = r.raw === null || r.raw === undefined ? null : (typeof r.raw === 'string' ? r.raw : JSON.stringify(r.raw));
    parts.push(block('raw answer', raw === null ? note('none') : pre(raw)));
    if (s.mentions) parts.push(mentions(t, s));
    parts.push(parsed(t, s));
    const reference = t.kind !== 'ranking' ? fmt(r.reference)
      : itemText(t, r.reference) + (s.rank === null ? ', not in the list' : `, rank ${s.rank}`);
    parts.push(block('reference', pre(reference)));
    const counts = ['parse_failed', 'well_formed', 'hallucinated', 'out_of_candidates', 'duplicates']
      .filter((k) => k in p).map((k) => `${k} ${p[k]}`).join(', ');
    const scores = Object.entries(r.scores || {}).map(([k, v]) => `${k} ${fmt(v)}`).join(', ') || 'none';
    const truncated = r.truncated_history ? `\ntruncated history: ${r.truncated_history}` : '';
    parts.push(block('scores', pre(`${scores}\n${counts}${truncated}`)));
    if (r.judge) parts.push(block('judge', pre(Object.entries(r.judge).map(([k, v]) => `${k} ${fmt(v)}`).join('\n'))));
    return `<div class="dd-detail">${parts.join('')}</div>`;
  }

  const options = (pairs, chosen) => pairs.map(([value, text]) =>
    `<option value="${esc(value)}"${value === chosen ? ' selected' : ''}>${esc(text)}</option>`).join('');
  function choose(index) {
    state.index = index; state.page = 0; state.open = new Set();
    $('dd-table').value = index;
    const t = table(index), filters = FILTER_OPTIONS[t.kind] || FILTER_OPTIONS.text;
    if (!filters.some(([name]) => name === state.filter)) state.filter = 'all';
    $('dd-filter').innerHTML = options(filters, state.filter);
    const sorts = [['file', 'recorded order'], ...(t.kind === 'ranking' ? [['rank|asc', 'rank, best first']] : [])];
    for (const n of t.scores) sorts.push([`score:${n}|desc`, `${n} ↓`], [`score:${n}|asc`, `${n} ↑`]);
    for (const n of t.judge) sorts.push([`judge:${n}|desc`, `judge ${n} ↓`], [`judge:${n}|asc`, `judge ${n} ↑`]);
    if (!sorts.some(([v]) => v === state.sort)) state.sort = 'file';
    $('dd-sort').innerHTML = options(sorts, state.sort);
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
    if (option) choose(option.value);
  });
  // report.html#run=RUN_ID&task=TASK&filter=NAME&q=TEXT&open=N opens a view straight away (a link, a screenshot)
  const params = new URLSearchParams(location.hash.slice(1));
  const first = [...$('dd-table').options].find((o) => o.dataset.run === params.get('run') &&
                                                       o.dataset.task === params.get('task'));
  state.filter = params.get('filter') || 'all';
  state.query = params.get('q') || '';
  $('dd-search').value = state.query;
  choose(first ? first.value : $('dd-table').value);
  if (params.get('open') !== null) { state.open.add(Number(params.get('open'))); render(); }
  if (first) $('samples').scrollIntoView();
})();
