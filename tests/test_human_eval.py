"""`llmrec human-eval`: blinded sheets, the offline form, and the statistics of the answers.

The agreement statistics are checked against values computed by hand (the computations are in the
comments); the sheet is exported, filled in code (and once through the HTML form in headless Chromium)
and imported back.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from llmrec.errors import LLMRecError
from llmrec.humaneval import stats
from llmrec.humaneval.results import import_annotations, render_text
from llmrec.humaneval.sheet import build_sheet, export_sheet, sheet_csv
from llmrec.protocol import sample_ids_sha256

NAN = np.nan
SYSTEMS = ("alpha-model", "beta-model", "gamma-model")


# --- hand-computed agreement ---------------------------------------------------------------------

# Two annotators, four units:  u1 (1, 1)  u2 (2, 2)  u3 (3, 4)  u4 (4, 4).
# Every unit has m_u = 2 values, so each ordered pair of its values adds 1/(m_u - 1) = 1 to the coincidence
# matrix: o_11 = 2, o_22 = 2, o_34 = o_43 = 1, o_44 = 2. Value totals n_1 = 2, n_2 = 2, n_3 = 1, n_4 = 3, n = 8.
# alpha = 1 - (n - 1) * sum_ck o_ck d_ck / sum_ck n_c n_k d_ck (ordered pairs c != k).
TWO_ANNOTATORS = [[1, 2, 3, 4], [1, 2, 4, 4]]


def test_interval_alpha_equals_the_hand_computation():
    # interval: d_ck = (c - k)^2. Observed: o_34 d_34 + o_43 d_43 = 2.
    # Expected, over unordered pairs n_c n_k d_ck: (1,2) 4, (1,3) 8, (1,4) 54, (2,3) 2, (2,4) 24, (3,4) 3 = 95;
    # ordered pairs: 190. alpha = 1 - 7 * 2 / 190 = 88/95.
    assert stats.krippendorff_alpha(np.array(TWO_ANNOTATORS), "interval") == pytest.approx(88 / 95)


def test_ordinal_alpha_equals_the_hand_computation():
    # ordinal: d_ck = (sum of n_g for g from c to k - (n_c + n_k) / 2)^2:
    # d_12 = (4 - 2)^2 = 4, d_13 = (5 - 1.5)^2 = 12.25, d_14 = (8 - 2.5)^2 = 30.25, d_23 = (3 - 1.5)^2 = 2.25,
    # d_24 = (6 - 2.5)^2 = 12.25, d_34 = (4 - 2)^2 = 4. Observed: o_34 d_34 + o_43 d_43 = 8.
    # Expected, unordered: 16 + 24.5 + 181.5 + 4.5 + 73.5 + 12 = 312; ordered: 624. alpha = 1 - 7 * 8 / 624 = 71/78.
    # A value of the 1-5 scale nobody gave (5) has n_5 = 0 and changes nothing.
    assert stats.krippendorff_alpha(np.array(TWO_ANNOTATORS), "ordinal") == pytest.approx(71 / 78)
    assert stats.krippendorff_alpha(np.array(TWO_ANNOTATORS), "ordinal", [1, 2, 3, 4, 5]) == pytest.approx(71 / 78)


def test_interval_alpha_with_missing_values_and_three_annotators():
    # u1: (1, 1, -)  u2: (2, 3, 3)  u3: (5, -, 4)  u4: (2, -, -), rated once, pairs with nothing.
    # u1 (m=2): o_11 += 2. u2 (m=3, weight 1/2): ordered pairs (2,3) x2, (3,2) x2, (3,3) x2: o_23 = o_32 = 1,
    # o_33 = 1. u3 (m=2): o_45 = o_54 = 1. n_1 = 2, n_2 = 1, n_3 = 2, n_4 = 1, n_5 = 1, n = 7.
    # Observed: (o_23 + o_32) * 1 + (o_45 + o_54) * 1 = 4.
    # Expected, unordered n_c n_k (c-k)^2: (1,2) 2, (1,3) 16, (1,4) 18, (1,5) 32, (2,3) 2, (2,4) 4, (2,5) 9,
    # (3,4) 2, (3,5) 8, (4,5) 1 = 94; ordered 188. alpha = 1 - 6 * 4 / 188 = 41/47.
    matrix = np.array([[1, 2, 5, 2], [1, 3, NAN, NAN], [NAN, 3, 4, NAN]])
    assert stats.krippendorff_alpha(matrix, "interval") == pytest.approx(41 / 47)


def test_the_published_example_of_krippendorff_2011():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", p. 8: 4 observers, 12 units, with
    # missing values (the last unit has one value only); nominal alpha 0.743 as printed there.
    data = np.array([[1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
                     [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
                     [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
                     [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN]])
    assert round(stats.krippendorff_alpha(data, "nominal"), 3) == 0.743


def test_alpha_is_undefined_without_a_pairable_unit_or_without_variation():
    assert stats.krippendorff_alpha(np.array([[1, NAN], [NAN, 2]]), "ordinal") is None  # no unit rated twice
    assert stats.krippendorff_alpha(np.array([[3, 3], [3, 3]]), "interval") is None  # D_e = 0


def test_ranks_pairwise_agreement_and_spearman_by_hand():
    assert stats.ranks_of([3, 5, 5, 1]) == [3.0, 1.5, 1.5, 4.0]  # the two 5s share ranks 1 and 2
    # item 1: pairs (0,1) both say 0 > 1; (0,2) 3 > 2 but 2 < 3: disagree; (1,2) both say 2 > 1: 2 of 3.
    # item 2: the first rater ties the pair: not counted.
    share, pairs = stats.pairwise_agreement([([3, 1, 2], [2, 1, 3]), ([1, 1], [2, 1])])
    assert (share, pairs) == (pytest.approx(2 / 3), 3)
    # rho = 1 - 6 sum d^2 / (n (n^2 - 1)): ranks of x (1, 2, 3, 4) and y (2, 1, 3, 4): sum d^2 = 2, rho = 1 - 12/60.
    rho, _ = stats.spearman([1, 2, 3, 4], [20, 10, 30, 40])
    assert rho == pytest.approx(0.8)
    assert stats.spearman([1, 2], [1, 2]) == (None, None)


def test_mean_ci_of_constant_values_is_degenerate_and_of_spread_values_holds_the_mean():
    assert stats.mean_ci([4, 4, 4]) == (4.0, 4.0, 4.0)
    mean, lo, hi = stats.mean_ci([1, 2, 3, 4, 5], seed=1)
    assert mean == 3 and 1 <= lo < 3 < hi <= 5


# --- runs to put on a sheet ----------------------------------------------------------------------

def write_run(folder: Path, model: str, outputs: dict[str, str], ids: list[str] | None = None) -> Path:
    """A run folder of explanation samples as bench writes it, with its prompts recorded (an LLM run)."""
    ids = ids or list(outputs)
    folder.mkdir(parents=True)
    records = [{"task": "explanation", "sample_id": i, "prompt": f"Explain the 5-star rating of item {i}.",
                "raw": outputs[i], "prediction": {"value": outputs[i], "parse_failed": False},
                "reference": f"reference of {i}"} for i in ids]
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    entry = {"dataset": "synthetic-reviews", "fingerprint": "ab" * 32, "split": "test", "n_samples": len(ids),
             "sample_ids_sha256": sample_ids_sha256(ids), "seed": 2023, "metrics_version": 2, "candidates": None,
             "candidate_order": None, "ranking_over": None, "metrics": {}, "counts": {}}
    (folder / "metrics.json").write_text(json.dumps({"format": 1, "run_id": f"{model}__0", "model": model,
                                                     "adapter": None, "tasks": {"explanation": entry}}))
    return folder


@pytest.fixture
def runs(tmp_path):
    ids = [f"u{i}-i{i}" for i in range(12)]
    return [write_run(tmp_path / name, name, {i: f"text {k}.{n}" for n, i in enumerate(ids)})
            for k, name in enumerate(SYSTEMS)]


def read_rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def system_of(key: dict, row: dict) -> str:
    item = next(i for i in key["items"] if i["item"] == int(row["item"]))
    return key["runs"][item["slots"][row["slot"]]]["model"]


def fill(rows: list[dict], key: dict, annotator: str, answer) -> str:
    """The sheet's rows with `answer(system, row)` in every answer column: {column: value}."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, **answer(system_of(key, row), row), "annotator": annotator})
    return out.getvalue()


# --- export --------------------------------------------------------------------------------------

def test_export_writes_a_blinded_sheet_a_form_and_a_key(runs, tmp_path):
    _, files = export_sheet(runs, "explanation", n=8, seed=5, out=tmp_path / "sheet")
    rows, key = read_rows(files["sheet.csv"]), json.loads(files["key.json"].read_text())
    assert len(rows) == 8 * 3 and len(key["items"]) == 8 and key["n_shared"] == 12
    assert list(rows[0])[-7:] == ["output", "informativeness", "persuasiveness", "relevance", "fluency",
                                  "annotator", "comment"]
    for text in (files["sheet.csv"].read_text(), files["form.html"].read_text()):
        assert not any(name in text for name in SYSTEMS)  # neither model names nor run ids nor run folders
    # each row's output is the output of the run its slot maps to, and slot orders differ between items
    for row in rows:
        assert row["output"].startswith(f"text {SYSTEMS.index(system_of(key, row))}.")
    orders = {tuple(i["slots"][s] for s in "ABC") for i in key["items"]}
    assert len(orders) > 1
    assert {r["sample_id"] for r in rows} <= {f"u{i}-i{i}" for i in range(12)}
    assert rows[0]["prompt"].startswith("Explain the 5-star rating")  # inputs: the recorded prompt
    assert rows[0]["reference"].startswith("reference of ")


def test_outputs_a_spreadsheet_would_run_as_formulas_are_quoted(tmp_path):
    ids = ["u1-i1", "u2-i2"]
    runs = [write_run(tmp_path / "a", "a", {"u1-i1": "=HYPERLINK(\"x\")", "u2-i2": "fine"}),
            write_run(tmp_path / "b", "b", {"u1-i1": "-great fit", "u2-i2": "@once"}, ids)]
    _, files = export_sheet(runs, "explanation", n=2, seed=1, out=tmp_path / "sheet")
    outputs = {r["output"] for r in read_rows(files["sheet.csv"])}
    assert outputs == {"'=HYPERLINK(\"x\")", "fine", "'-great fit", "'@once"}
    assert '"=HYPERLINK' in files["form.html"].read_text().replace('\\"', '"')  # the form shows the text as it is


def test_the_seed_fixes_the_items_and_the_order(runs, tmp_path):
    one, again = build_sheet(runs, "explanation", 8, seed=5), build_sheet(runs, "explanation", 8, seed=5)
    other = build_sheet(runs, "explanation", 8, seed=6)
    assert sheet_csv(one) == sheet_csv(again) and one.sheet_id == again.sheet_id
    assert sheet_csv(other) != sheet_csv(one) and other.sheet_id != one.sheet_id
    assert len(build_sheet(runs, "explanation", 50, seed=5).items) == 12  # n above the shared samples: all


def test_runs_on_different_samples_are_refused(runs, tmp_path):
    other = write_run(tmp_path / "other", "delta-model", {f"u{i}-i{i}": "x" for i in range(11)})
    with pytest.raises(LLMRecError, match=r"samples differ.*n_samples: 12 vs 11"):
        build_sheet([*runs, other], "explanation", 5, seed=1)
    with pytest.raises(LLMRecError, match="at least two runs"):
        build_sheet(runs[:1], "explanation", 5, seed=1)
    with pytest.raises(LLMRecError, match="the same run"):
        build_sheet([runs[0], runs[0]], "explanation", 5, seed=1)
    with pytest.raises(LLMRecError, match="holds no review task"):
        build_sheet(runs, "review", 5, seed=1)


def test_export_refuses_to_overwrite_a_sheet(runs, tmp_path):
    export_sheet(runs, "explanation", n=4, seed=1, out=tmp_path / "s")
    with pytest.raises(LLMRecError, match="already exists"):
        export_sheet(runs, "explanation", n=4, seed=2, out=tmp_path / "s")


# --- import --------------------------------------------------------------------------------------

TRUE_SCORE = {"alpha-model": 5, "beta-model": 3, "gamma-model": 1}
CRITERIA = ("informativeness", "persuasiveness", "relevance", "fluency")


def test_a_filled_sheet_round_trips_to_the_scores_given(runs, tmp_path):
    _, files = export_sheet(runs, "explanation", n=8, seed=5, out=tmp_path / "sheet")
    rows, key = read_rows(files["sheet.csv"]), json.loads(files["key.json"].read_text())
    # ann1 gives every system its true score; ann2 the same, but one point lower for beta on item 1's fluency
    first = fill(rows, key, "ann1", lambda system, row: {c: TRUE_SCORE[system] for c in CRITERIA})
    second = fill(rows, key, "ann2", lambda system, row: {c: TRUE_SCORE[system] - (
        system == "beta-model" and row["item"] == "1" and c == "fluency") for c in CRITERIA})
    (tmp_path / "a.csv").write_text(first)
    (tmp_path / "b.csv").write_text(second)
    result = import_annotations([tmp_path / "a.csv", tmp_path / "b.csv"], files["key.json"])
    assert result.annotators == ["ann1", "ann2"] and result.n_answers == 2 * 8 * 3 * 4
    by_label = {s.label: s for s in result.systems}
    assert by_label["alpha-model"].means["fluency"] == (5.0, 5.0, 5.0)
    # beta's fluency: item 1 averages (3 + 2) / 2 = 2.5, the 7 other items 3: (2.5 + 21) / 8
    assert by_label["beta-model"].means["fluency"][0] == pytest.approx(23.5 / 8)
    assert [by_label[s].mean_rank[0] for s in SYSTEMS] == [1.0, 2.0, 3.0]
    assert all(s.n_items == 8 for s in result.systems)
    agreement = {(a.column, a.level): a for a in result.agreement}
    assert agreement[("informativeness", "ordinal")].alpha == 1.0  # the annotators agree everywhere
    assert agreement[("informativeness", "interval")].n_units == 24
    assert agreement[("fluency", "interval")].alpha < 1.0
    assert "judge-vs-human agreement skipped" in " ".join(result.notes)
    text = render_text(result)
    assert "alpha-model" in text and "Krippendorff" in text


def test_rank_mode_expresses_the_papers_ranking_protocol(runs, tmp_path):
    _, files = export_sheet(runs, "explanation", n=6, seed=3, out=tmp_path / "sheet", mode="rank")
    rows, key = read_rows(files["sheet.csv"]), json.loads(files["key.json"].read_text())
    assert list(rows[0])[-3:] == ["rank", "annotator", "comment"]
    order = {"alpha-model": 1, "beta-model": 2, "gamma-model": 3}
    swapped = {"alpha-model": 2, "beta-model": 1, "gamma-model": 3}  # ann2 prefers beta on every item
    (tmp_path / "a.csv").write_text(fill(rows, key, "ann1", lambda s, r: {"rank": order[s]}))
    (tmp_path / "b.csv").write_text(fill(rows, key, "ann2", lambda s, r: {"rank": swapped[s]}))
    result = import_annotations([tmp_path / "a.csv", tmp_path / "b.csv"], files["key.json"])
    by_label = {s.label: s for s in result.systems}
    assert [by_label[s].mean_rank[0] for s in SYSTEMS] == [1.5, 1.5, 3.0]
    assert by_label["alpha-model"].means == {}
    [agreement] = result.agreement
    assert (agreement.column, agreement.level, agreement.n_units) == ("rank", "ordinal", 18)
    # per item the two annotators give (1,2,3) and (2,1,3): in the 18 units, 6 pairs (1,2), 6 (2,1), 6 (3,3);
    # n_1 = n_2 = n_3 = 12, n = 36. Ordinal d_12 = (24 - 12)^2 = 144, d_13 = (36 - 12)^2 = 576, d_23 = 144.
    # alpha's units add o_12 = o_21 = 6, beta's as many again: o_12 = o_21 = 12; gamma's o_33 = 12.
    # Observed: (o_12 + o_21) * 144 = 3456. Expected, ordered: 2 * 144 * (144 + 576 + 144) = 248832.
    # alpha = 1 - 35 * 3456 / 248832 = 1 - 120960 / 248832 = 0.5139.
    assert agreement.alpha == pytest.approx(1 - 120960 / 248832)


def test_unanswered_rows_are_left_out_and_bad_answers_are_refused(runs, tmp_path):
    _, files = export_sheet(runs, "explanation", n=4, seed=1, out=tmp_path / "sheet")
    rows, key = read_rows(files["sheet.csv"]), json.loads(files["key.json"].read_text())
    # fluency for item 1's slots A and B, nothing for C: item 1 has no ranks, so it counts as incomplete
    partial = fill(rows, key, "ann", lambda s, r: {"fluency": 4} if r["item"] == "1" and r["slot"] != "C" else {})
    (tmp_path / "p.csv").write_text(partial)
    result = import_annotations([tmp_path / "p.csv"], files["key.json"])
    assert result.n_answers == 2 and "one annotator" in " ".join(result.notes)
    assert "1 (annotator, item) pairs left some outputs unanswered" in " ".join(result.notes)
    assert all(math.isnan(s.mean_rank[0]) for s in result.systems)
    bad = fill(rows, key, "ann", lambda s, r: {"fluency": 6})
    (tmp_path / "bad.csv").write_text(bad)
    with pytest.raises(LLMRecError, match=r"bad.csv:2: fluency: expected a whole number from 1 to 5, got '6'"):
        import_annotations([tmp_path / "bad.csv"], files["key.json"])
    (tmp_path / "twice.csv").write_text(partial)
    with pytest.raises(LLMRecError, match="answered fluency of item 1 slot A twice"):
        import_annotations([tmp_path / "p.csv", tmp_path / "twice.csv"], files["key.json"])
    _, other = export_sheet(runs, "explanation", n=4, seed=2, out=tmp_path / "other")
    with pytest.raises(LLMRecError, match="belongs to sheet"):
        import_annotations([tmp_path / "p.csv"], other["key.json"])
    (tmp_path / "key.json").write_text(json.dumps({"format": 1, "items": []}))
    with pytest.raises(LLMRecError, match=r"key.json: expected a human-evaluation key \(format 1\) with sheet"):
        import_annotations([tmp_path / "p.csv"], tmp_path / "key.json")


def write_judgment(run: Path, judge: str, scores: dict[str, dict], output_of: dict[str, str], name: str = "j1"):
    """A pointwise judgment inside a run folder, in the judge stage's layout (llmrec.humaneval.judged)."""
    import hashlib

    folder = run / "judgments" / f"pointwise-{judge}__{name}"
    folder.mkdir(parents=True)
    (folder / "judgment.json").write_text(json.dumps({
        "format": 1, "mode": "pointwise", "judge": judge, "judge_label": judge,
        "runs": [{"run_id": f"{run.name}__0", "model": run.name, "path": str(run)}], "tasks": {"explanation": {}}}))
    records = [{"task": "explanation", "sample_id": sid, "scores": s,
                "output_sha256": [hashlib.sha256(output_of[sid].encode()).hexdigest()]} for sid, s in scores.items()]
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_judge_scores_are_set_against_the_annotators(runs, tmp_path):
    _, files = export_sheet(runs, "explanation", n=4, seed=1, out=tmp_path / "sheet")
    rows, key = read_rows(files["sheet.csv"]), json.loads(files["key.json"].read_text())
    (tmp_path / "a.csv").write_text(fill(rows, key, "ann", lambda s, r: {c: TRUE_SCORE[s] for c in CRITERIA}))
    # the judge agrees on alpha > beta but scores gamma above both: per item, of the 3 pairs only
    # alpha-beta is ordered the same way (1 of 3); over the 12 outputs the judge's fluency is
    # alpha 4, beta 2, gamma 5 against human 5, 3, 1
    judge = {"alpha-model": 4, "beta-model": 2, "gamma-model": 5}
    ids = [f"u{i}-i{i}" for i in range(12)]
    for k, run in enumerate(runs):
        outputs = {sid: f"text {k}.{n}" for n, sid in enumerate(ids)}
        write_judgment(run, "smollm2", {sid: {c: judge[run.name] for c in CRITERIA} for sid in ids}, outputs)
    result = import_annotations([tmp_path / "a.csv"], files["key.json"])
    by_column = {j.column: j for j in result.judge}
    fluency = by_column["fluency"]
    assert fluency.judge == "smollm2"
    assert (fluency.n_units, fluency.n_pairs) == (12, 12) and fluency.pairwise == pytest.approx(1 / 3)
    # Spearman on 12 values, 4 of each system, ties averaged: human ranks (alpha 10.5, beta 6.5, gamma 2.5),
    # judge ranks (alpha 6.5, beta 2.5, gamma 10.5). Pearson on those ranks: deviations from 6.5:
    # human (4, 0, -4), judge (0, -4, 4); covariance sum 4*(0 + 0 - 16) = -64, variances 4*32 = 128 each: -0.5.
    assert fluency.rho == pytest.approx(-0.5)
    assert by_column["rank"].pairwise == pytest.approx(1 / 3)
    assert not any("skipped" in n for n in result.notes)
    assert "Judge vs annotators" in render_text(result)


def test_stale_judge_records_and_a_judge_of_only_some_runs_are_left_out(runs, tmp_path):
    _, files = export_sheet(runs, "explanation", n=4, seed=1, out=tmp_path / "sheet")
    rows, key = read_rows(files["sheet.csv"]), json.loads(files["key.json"].read_text())
    (tmp_path / "a.csv").write_text(fill(rows, key, "ann", lambda s, r: {c: TRUE_SCORE[s] for c in CRITERIA}))
    ids = [f"u{i}-i{i}" for i in range(12)]
    for k, run in enumerate(runs[:2]):
        write_judgment(run, "other-judge", {sid: {"fluency": 3} for sid in ids}, {sid: "x" for sid in ids})
    result = import_annotations([tmp_path / "a.csv"], files["key.json"])
    assert result.judge == [] and any("skipped" in n for n in result.notes)  # gamma was never judged
    write_judgment(runs[2], "other-judge", {sid: {"fluency": 3} for sid in ids}, {sid: "x" for sid in ids})
    result = import_annotations([tmp_path / "a.csv"], files["key.json"])
    assert result.judge == []  # every record judged another output ("x"): stale, so no output pairs with one
    assert any("judge other-judge: nothing to compare" in n and "earlier outputs" in n for n in result.notes)


def test_a_judge_whose_replies_were_unreadable_is_named_as_such(runs, tmp_path):
    _, files = export_sheet(runs, "explanation", n=4, seed=1, out=tmp_path / "sheet")
    rows, key = read_rows(files["sheet.csv"]), json.loads(files["key.json"].read_text())
    (tmp_path / "a.csv").write_text(fill(rows, key, "ann", lambda s, r: {c: TRUE_SCORE[s] for c in CRITERIA}))
    ids = [f"u{i}-i{i}" for i in range(12)]
    for k, run in enumerate(runs):
        outputs = {sid: f"text {k}.{n}" for n, sid in enumerate(ids)}
        write_judgment(run, "weak", {sid: {c: None for c in CRITERIA} for sid in ids}, outputs)
    result = import_annotations([tmp_path / "a.csv"], files["key.json"])
    assert result.judge == [] and any("no reply could be read as a score" in n for n in result.notes)


# --- the CLI and real runs -----------------------------------------------------------------------

def cli(*args: str, data_root: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"LLMREC_DATA_DIR": str(data_root)} if data_root else {})}
    return subprocess.run([sys.executable, "-m", "llmrec", *args], capture_output=True, text=True, timeout=600,
                          env=env)


def test_cli_export_and_import_json(runs, tmp_path):
    done = cli("human-eval", "export", *map(str, runs), "--n", "5", "--seed", "9", "--out", str(tmp_path / "s"))
    assert done.returncode == 0, done.stderr
    assert "key.json: " in done.stderr and "5 items from the 12 explanation samples the 3 runs share" in done.stderr
    rows, key = read_rows(tmp_path / "s" / "sheet.csv"), json.loads((tmp_path / "s" / "key.json").read_text())
    (tmp_path / "a.csv").write_text(fill(rows, key, "ann", lambda s, r: {c: TRUE_SCORE[s] for c in CRITERIA}))
    done = cli("human-eval", "import", str(tmp_path / "a.csv"), "--key", str(tmp_path / "s" / "key.json"),
               "--format", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [s["means"]["relevance"][0] for s in result["systems"]] == [5, 3, 1]
    bad = cli("human-eval", "export", *map(str, runs), "--task", "explantion", "--out", str(tmp_path / "t"))
    assert bad.returncode == 2 and "did you mean explanation?" in bad.stderr
    bad = cli("human-eval", "export", *map(str, runs), "--mode", "rank", "--criteria", "fluency",
              "--out", str(tmp_path / "t"))
    assert bad.returncode == 2 and "--criteria" in bad.stderr


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory, data_root):
    """lead and a tiny random llama on the same 6 clothing-review explanation samples."""
    from llmrec.backends.models import smollm2_folder
    from tiny_model import build_tiny_llama

    out = tmp_path_factory.mktemp("real")
    tiny = build_tiny_llama(out / "tiny", smollm2_folder()[0])
    for model, extra in (("lead", ()), (str(tiny), ("--max-new-tokens", "12"))):
        done = cli("bench", "--model", model, "--task", "explanation", "--limit", "6", "--output", str(out / "runs"),
                   *extra, data_root=data_root)
        assert done.returncode == 0, done.stderr
    return sorted((out / "runs").iterdir())


def test_a_real_sheet_shows_the_inputs_the_task_built(real_runs, tmp_path, data_root, monkeypatch):
    from llmrec.data import prepare_for_run
    from llmrec.tasks import TASKS
    from llmrec.tasks.base import SampleOptions

    monkeypatch.setenv("LLMREC_DATA_DIR", str(data_root))
    sheet = build_sheet(real_runs, "explanation", 4, seed=2)
    assert [c for c, _ in sheet.context_columns] == ["item_title", "category", "rating", "reference"]
    prepared = prepare_for_run("clothing-reviews", seed=2023, candidates=100)
    samples = {s.sample_id: s for s in TASKS.get("explanation").build(prepared, SampleOptions())}
    for item in sheet.items:
        sample = samples[item["sample_id"]]
        assert item["context"] == {"item_title": sample.variables["title"], "category": sample.variables["category"],
                                   "rating": str(int(sample.variables["rating"])), "reference": sample.reference}


def test_a_sheet_of_a_run_on_unfiltered_amazon_data_rebuilds_its_inputs(tmp_path, monkeypatch):
    # --kcore 0 is a setting like any other: the inputs are rebuilt with it, not with the default 5-core
    from fixtures_data import write_amazon_2014
    from llmrec.backends.models import smollm2_folder
    from tiny_model import build_tiny_llama

    dataset = f"amazon:{write_amazon_2014(tmp_path / 'amazon')}"
    tiny = build_tiny_llama(tmp_path / "tiny", smollm2_folder()[0])
    for model, extra in (("lead", ()), (str(tiny), ("--max-new-tokens", "4"))):
        done = cli("bench", "--model", model, "--task", "explanation", "--dataset", dataset, "--kcore", "0",
                   "--candidates", "5", "--limit", "4", "--output", str(tmp_path / "runs"), *extra,
                   data_root=tmp_path / "data")
        assert done.returncode == 0, done.stderr
    monkeypatch.setenv("LLMREC_DATA_DIR", str(tmp_path / "data"))
    sheet = build_sheet(sorted((tmp_path / "runs").iterdir()), "explanation", 4, seed=1)
    assert [c for c, _ in sheet.context_columns][:2] == ["item_title", "category"] and len(sheet.items) == 4


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


FILL_SCRIPT = """<script>
// what an annotator does: a name, then for each output the score 4 on every criterion (3 for slot B)
document.querySelector('input[placeholder^=comment]').value = '=1+1';  // typed: the CSV must quote it
document.querySelector('input[placeholder^=comment]').dispatchEvent(new Event('input'));
nameBox.value = 'browser';
for (const input of document.querySelectorAll('input[type=radio]')) {
  const slot = input.name.split('-')[2];
  if (input.value === (slot === 'B' ? '3' : '4')) input.click();
}
const done = document.getElementById('progress').textContent;
const pre = document.createElement('pre'); pre.id = 'csv-out'; pre.textContent = sheetCsv(nameBox.value);
document.body.append(pre);
// the parser "Load CSV" restores answers with, on a field holding a comma, a quote and a line break
const parsed = document.createElement('pre'); parsed.id = 'parsed';
parsed.textContent = JSON.stringify(parseCsv(pre.textContent + 'x,"a,""b""\\nc",\\n'));
document.body.append(parsed);
document.title = done;
</script>
</body>"""


@pytest.mark.skipif(chromium() is None, reason="needs headless chromium")
def test_the_html_form_fills_in_headless_chromium_and_imports(runs, tmp_path):
    """The form as an annotator uses it: its script builds the items offline, the answers given by clicking
    come out as a CSV of the sheet's columns, and that CSV imports."""
    _, files = export_sheet(runs, "explanation", n=3, seed=4, out=tmp_path / "sheet")
    page = files["form.html"].read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # no external asset
    filled = tmp_path / "filled.html"
    filled.write_text(page.replace("</body>", FILL_SCRIPT))
    done = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                           filled.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "<title>3 / 3 items done</title>" in done.stdout
    assert done.stdout.count('type="radio"') == 3 * 3 * 4 * 5  # items x outputs x criteria x scale
    import html as html_lib

    csv_text = html_lib.unescape(re.search(r'<pre id="csv-out">(.*?)</pre>', done.stdout, re.S).group(1))
    (tmp_path / "browser.csv").write_text(csv_text)
    parsed = json.loads(html_lib.unescape(re.search(r'<pre id="parsed">(.*?)</pre>', done.stdout, re.S).group(1)))
    assert parsed == [*csv.reader(io.StringIO(csv_text)), ["x", 'a,"b"\nc', ""]]
    assert read_rows(tmp_path / "browser.csv")[0].keys() == read_rows(files["sheet.csv"])[0].keys()
    result = import_annotations([tmp_path / "browser.csv"], files["key.json"])
    assert result.annotators == ["browser"] and result.n_answers == 3 * 3 * 4
    rows = read_rows(tmp_path / "browser.csv")
    assert {r["fluency"] for r in rows if r["slot"] == "B"} == {"3"}
    assert {r["fluency"] for r in rows if r["slot"] != "B"} == {"4"}
    assert rows[0]["comment"] == "'=1+1"
