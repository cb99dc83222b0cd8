"""The sheet as one self-contained HTML form: no external assets, works from a file:// URL offline.

The page embeds the sheet's rows as JSON and builds the form with a little inline JavaScript (all text
goes in through textContent, never as markup). Answers are kept in the browser's localStorage under the
sheet id as they are given, and "Download CSV" saves the sheet's own rows with the answers filled in:
the same columns as sheet.csv, so `llmrec human-eval import` reads either. "Load CSV" restores a saved
file, to go on with it in another browser.
"""

from __future__ import annotations

import html
import json

from llmrec.humaneval.sheet import ANNOTATOR_COLUMN, COMMENT_COLUMN, SCALE, SHEET_TASKS, Sheet

_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f4f5f7;color:#1d232b}
header{position:sticky;top:0;z-index:2;background:#1d3557;color:#fff;padding:10px 24px;display:flex;
 flex-wrap:wrap;gap:14px;align-items:center;box-shadow:0 2px 6px rgba(0,0,0,.2)}
header h1{font-size:17px;margin:0 12px 0 0}
header input[type=text]{padding:5px 8px;border-radius:4px;border:0;width:180px}
header button,header label.button{background:#fff;color:#1d3557;border:0;border-radius:4px;padding:6px 12px;
 font:600 13px system-ui,sans-serif;cursor:pointer}
header .progress{font-variant-numeric:tabular-nums}
header .filter{display:flex;gap:6px;align-items:center}
main{max-width:1100px;margin:18px auto;padding:0 18px}
.intro{background:#fff;border-radius:6px;padding:12px 18px;margin-bottom:16px;border-left:4px solid #457b9d}
.item{background:#fff;border-radius:6px;padding:14px 18px;margin-bottom:16px;border-left:4px solid #c9ced6}
.item.done{border-left-color:#2a9d8f}
.item h2{font-size:15px;margin:0 0 8px;color:#457b9d}
.context{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin-bottom:10px}
.context dt{font-weight:600;color:#555}.context dd{margin:0;white-space:pre-wrap}
.output{display:grid;grid-template-columns:30px 1fr;gap:4px 10px;border-top:1px solid #e3e6ea;padding:10px 0}
.output .slot{font-weight:700;font-size:17px;color:#1d3557}
.output .text{white-space:pre-wrap;background:#f8f9fb;border-radius:4px;padding:6px 10px}
.output .text.empty{color:#999;font-style:italic}
.answers{grid-column:2;display:flex;flex-wrap:wrap;gap:6px 22px;align-items:center}
.answers .criterion{white-space:nowrap}
.answers .criterion b{font-weight:600;color:#444;margin-right:6px}
.answers label{margin-right:5px;cursor:pointer}
.answers input[type=text]{flex:1;min-width:160px;padding:3px 6px}
.hidden{display:none}
"""

_SCRIPT = r"""
const S = JSON.parse(document.getElementById('sheet-data').textContent);
const storeKey = 'llmrec-human-eval-' + S.sheet;
const saved = JSON.parse(localStorage.getItem(storeKey) || '{}');
const answers = saved.answers || {};   // "item|slot|column" -> value
const nameBox = document.getElementById('annotator');
nameBox.value = saved.annotator || '';
const cards = {};

function keyOf(row, column) { return row.item + '|' + row.slot + '|' + column; }
function save() {
  localStorage.setItem(storeKey, JSON.stringify({annotator: nameBox.value, answers: answers}));
  refresh();
}
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function itemDone(rows) {
  return rows.every(r => S.answerColumns.every(c => answers[keyOf(r, c)]));
}
function refresh() {
  let done = 0;
  for (const [item, card] of Object.entries(cards)) {
    const complete = itemDone(card.rows);
    card.node.classList.toggle('done', complete);
    card.node.classList.toggle('hidden', document.getElementById('unfinished').checked && complete);
    if (complete) done++;
  }
  document.getElementById('progress').textContent = done + ' / ' + Object.keys(cards).length + ' items done';
}
function answerGroup(row, column, choices) {
  const span = el('span', 'criterion');
  span.append(el('b', '', S.mode === 'rank' ? 'rank (1 = best)' : column));
  const name = 'a-' + row.item + '-' + row.slot + '-' + column;
  for (const v of choices) {
    const label = el('label');
    const input = el('input');
    input.type = 'radio'; input.name = name; input.value = String(v);
    input.checked = answers[keyOf(row, column)] === String(v);
    input.addEventListener('change', () => { answers[keyOf(row, column)] = input.value; save(); });
    label.append(input, ' ' + v);
    span.append(label);
  }
  return span;
}
function commentBox(row) {
  const input = el('input');
  input.type = 'text'; input.placeholder = 'comment (optional)';
  input.value = answers[keyOf(row, S.commentColumn)] || '';
  input.addEventListener('input', () => { answers[keyOf(row, S.commentColumn)] = input.value; save(); });
  return input;
}
function build() {
  const byItem = new Map();
  for (const row of S.rows) {
    if (!byItem.has(row.item)) byItem.set(row.item, []);
    byItem.get(row.item).push(row);
  }
  const main = document.getElementById('items');
  for (const [item, rows] of byItem) {
    const card = el('section', 'item');
    card.append(el('h2', '', 'Item ' + item + ' of ' + byItem.size));
    const dl = el('dl', 'context');
    for (const [column, label] of S.context) {
      dl.append(el('dt', '', label), el('dd', '', rows[0][column]));
    }
    card.append(dl);
    const choices = S.mode === 'rank' ? rows.map((_, i) => i + 1) : S.scale;
    for (const row of rows) {
      const block = el('div', 'output');
      const text = row[S.outputColumn];
      block.append(el('span', 'slot', row.slot), el('div', 'text' + (text ? '' : ' empty'), text || '(no answer)'));
      const answersRow = el('div', 'answers');
      for (const c of S.answerColumns) answersRow.append(answerGroup(row, c, choices));
      answersRow.append(commentBox(row));
      block.append(answersRow);
      card.append(block);
    }
    main.append(card);
    cards[item] = {node: card, rows: rows};
  }
}
function csvField(v) {  // as sheet.csv: a cell a spreadsheet would run as a formula gets a leading apostrophe
  let s = String(v === undefined || v === null ? '' : v);
  if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
  return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}
function sheetCsv(who) {  // the sheet's rows with this annotator's answers: the columns of sheet.csv
  const lines = [S.columns.map(csvField).join(',')];
  for (const row of S.rows) {
    const filled = Object.assign({}, row);
    for (const c of S.answerColumns.concat([S.commentColumn])) filled[c] = answers[keyOf(row, c)] || '';
    filled[S.annotatorColumn] = who;
    lines.push(S.columns.map(c => csvField(filled[c])).join(','));
  }
  return lines.join('\n') + '\n';
}
function download() {
  const who = nameBox.value.trim();
  if (!who) { alert('Please enter your name (annotator) first.'); nameBox.focus(); return; }
  const blob = new Blob([sheetCsv(who)], {type: 'text/csv'});
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = 'sheet-' + S.sheet + '-' + who.replace(/[^A-Za-z0-9_-]+/g, '_') + '.csv';
  document.body.append(a); a.click(); a.remove();
}
function parseCsv(text) {  // RFC 4180: quoted fields may hold commas, quotes ("") and line breaks
  const rows = []; let row = [], field = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { row.push(field); field = ''; }
    else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += ch;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows;
}
function load(file) {
  file.text().then(text => {
    const [header, ...body] = parseCsv(text);
    const at = name => header.indexOf(name);
    if (at('sheet') < 0 || body.some(r => r.length > 1 && r[at('sheet')] !== S.sheet)) {
      alert('This file belongs to another sheet.'); return;
    }
    for (const r of body) {
      if (r.length < header.length) continue;
      const row = {item: Number(r[at('item')]), slot: r[at('slot')]};
      for (const c of S.answerColumns.concat([S.commentColumn])) {
        if (at(c) >= 0 && r[at(c)]) answers[keyOf(row, c)] = r[at(c)];
      }
      if (at(S.annotatorColumn) >= 0 && r[at(S.annotatorColumn)]) nameBox.value = r[at(S.annotatorColumn)];
    }
    save(); location.reload();
  });
}
build();
nameBox.addEventListener('input', save);
document.getElementById('unfinished').addEventListener('change', refresh);
document.getElementById('download').addEventListener('click', download);
document.getElementById('load').addEventListener('change', e => { if (e.target.files[0]) load(e.target.files[0]); });
refresh();
"""


def form_data(sheet: Sheet) -> dict:
    """What the page's script reads: the sheet's rows and how to ask about them."""
    return {"sheet": sheet.sheet_id, "mode": sheet.mode, "columns": sheet.columns, "rows": sheet.rows(),
            "context": sheet.context_columns, "answerColumns": sheet.answer_columns,
            "scale": list(range(SCALE[0], SCALE[1] + 1)), "outputColumn": "output",
            "annotatorColumn": ANNOTATOR_COLUMN, "commentColumn": COMMENT_COLUMN}


def instructions(sheet: Sheet) -> str:
    question = SHEET_TASKS.get(sheet.task).question
    if sheet.mode == "rank":
        how = ("Rank the outputs of each item from best (1) to worst; two outputs may share a rank when "
               "you cannot tell them apart.")
    else:
        how = (f"Score each output from {SCALE[0]} (poor) to {SCALE[1]} (excellent) on every criterion: "
               f"{', '.join(sheet.criteria)}.")
    return (f"{question} The outputs come from different systems, in a different order for each item; "
            f"nothing tells which system wrote which. {how} Your answers stay in this browser as you go; "
            "when you are done, enter your name and download the CSV.")


def render_form(sheet: Sheet) -> str:
    data = json.dumps(form_data(sheet), ensure_ascii=False).replace("</", "<\\/")  # no early </script>
    title = f"Human evaluation · {sheet.task} · sheet {sheet.sheet_id}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body>
<header><h1>{html.escape(title)}</h1>
<input type="text" id="annotator" placeholder="your name (annotator)" aria-label="annotator">
<span class="progress" id="progress"></span>
<span class="filter"><input type="checkbox" id="unfinished"><label for="unfinished">only unfinished</label></span>
<button id="download" type="button">Download CSV</button>
<label class="button">Load CSV<input id="load" type="file" accept=".csv,text/csv" hidden></label>
</header>
<main><p class="intro">{html.escape(instructions(sheet))}</p><div id="items"></div></main>
<script type="application/json" id="sheet-data">{data}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
