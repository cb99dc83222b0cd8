"""`llmrec report`: reading run records and rendering leaderboards (Markdown and one-file HTML)."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from pathlib import Path

import pytest

from llmrec.reporting import report
from llmrec.errors import LLMRecError
from llmrec.reporting.report import (
    Section,
    format_half_ci,
    format_value,
    is_percent_scale,
    load_runs,
    lower_is_better,
    render_report,
)
from llmrec.reporting.facts import QUALITY_ORDER, VALIDITY_ORDER, ordered
from llmrec.protocol import PROTOCOL_KEYS
from llmrec.reporting.groups import Report, group_runs, run_colors
from llmrec.reporting.select import label_runs, select_runs

SAMPLE_IDS = "5e" * 32


def metric(value, half=None):
    return {"value": value, "ci": None if half is None else [value - half, value + half]}


def ranking_metrics(hr10, rates=(0.0, 0.0, 0.0, 0.0)):
    names = ("parse_failure_rate", "hallucination_rate", "out_of_candidate_rate", "duplicate_rate")
    metrics = {
        "hr@1": metric(hr10 / 4, 0.01), "hr@5": metric(hr10 * 0.7, 0.02), "hr@10": metric(hr10, 0.025),
        "ndcg@5": metric(hr10 * 0.45, 0.015), "ndcg@10": metric(hr10 * 0.55, 0.015), "mrr": metric(hr10 * 0.4, 0.01),
    }  # fmt: skip
    metrics.update({n: metric(r, r / 5) for n, r in zip(names, rates)})
    return metrics


def new_entry(metrics: dict) -> dict:
    """A task entry as `llmrec bench` records it today: protocol keys and settings."""
    return {"dataset": "movielens-100k", "fingerprint": "ab" * 32, "split": "test", "ranking_over": "candidates",
            "candidates": 100, "candidate_order": "shuffled", "seed": 2023, "n_samples": 943,
            "sample_ids_sha256": SAMPLE_IDS, "metrics_version": 2, "limit": None, "template": "zero-shot",
            "template_hash": "cd" * 32, "shots": None, "scoring": "generate", "max_new_tokens": 64,
            "temperature": 0.0, "truncation": "left", "metrics": metrics, "counts": {"samples": 943}}


def old_entry(metrics: dict) -> dict:
    """A task entry as runs recorded it before protocols were stored (no split, seed, sample ids, ...)."""
    return {"dataset": "movielens-100k", "fingerprint": "ab" * 32, "n_samples": 943, "candidates": 100,
            "ranking_over": "candidates", "scoring": "generate", "template": "zero-shot", "template_hash": "cd" * 32,
            "metrics": metrics, "counts": {"samples": 943}}


def write_run(root: Path, run_id: str, model: str, tasks: dict, created="2026-11-27T10:00:00Z",
              manifest: dict | None = None, old: bool = False) -> Path:
    """tasks: {task: (metrics, keys that replace the entry's defaults)}."""
    folder = root / run_id
    folder.mkdir(parents=True)
    make = old_entry if old else new_entry
    full = {task: make(metrics) | extra for task, (metrics, extra) in tasks.items()}
    record = {"format": 1, "run_id": run_id, "model": model, "created": created, "tasks": full}
    (folder / "metrics.json").write_text(json.dumps(record, indent=2))
    if manifest is not None:
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


CLASSIC = {"template": None, "template_hash": None, "scoring": "classic", "max_new_tokens": None,
           "temperature": None, "truncation": None}


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    write_run(root, "pop__a", "popularity", {
        "direct": (ranking_metrics(0.20), CLASSIC),
        "rating": ({"rmse": metric(1.10, 0.02), "mae": metric(0.90, 0.02), "coverage": metric(1.0)}, CLASSIC),
    }, created="2026-11-27T09:00:00Z")  # fmt: skip
    write_run(root, "smol__b", "smollm2", {
        "direct": (ranking_metrics(0.12, rates=(0.05, 0.02, 0.10, 0.01)), {}),
        "rating": ({"rmse": metric(1.35, 0.03), "mae": metric(1.05, 0.03),
                    "parse_failure_rate": metric(0.04, 0.01)}, {}),
    }, created="2026-11-27T11:00:00Z")  # fmt: skip
    return root


def section(md: str, title: str) -> str:
    """The Markdown between heading `title` and the next heading."""
    return md.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def tables(md_section: str) -> list[str]:
    """The tables of a section, one string per protocol block, in order."""
    return re.findall(r"^\| model.*?(?=\n\n|\Z)", md_section, re.M | re.S)


def row_of(md_section: str, label: str) -> list[str]:
    for line in md_section.splitlines():
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if cells and cells[0].strip("*") == label:
            return cells
    raise AssertionError(f"no row {label!r} in:\n{md_section}")


def labels_of(md_table: str) -> list[str]:
    return [line.strip("|").split(" | ")[0].strip() for line in md_table.splitlines()[2:]]


def header_of(md_section: str) -> list[str]:
    line = next(ln for ln in md_section.splitlines() if ln.startswith("| model"))
    return [c.strip() for c in line.strip("|").split(" | ")]


def test_load_runs_accepts_parent_run_folder_and_file_and_sorts_by_time(runs_dir: Path):
    runs = load_runs([runs_dir])
    assert [r["run_id"] for r in runs] == ["pop__a", "smol__b"]
    # the same run named twice (folder and file) is read once
    again = load_runs([runs_dir / "smol__b" / "metrics.json", runs_dir / "smol__b", runs_dir / "pop__a"])
    assert [r["run_id"] for r in again] == ["pop__a", "smol__b"]


def test_load_runs_defaults_to_results_runs(runs_dir: Path, monkeypatch):
    monkeypatch.chdir(runs_dir.parent)
    (runs_dir.parent / "results").mkdir()
    runs_dir.rename(runs_dir.parent / "results" / "runs")
    assert len(load_runs([])) == 2


@pytest.mark.parametrize("content, expected", [
    ('{"format": 1,\n "run_id": "x",\n "model": }', r"metrics\.json:3: invalid JSON"),
    ('{"format": 2, "run_id": "x", "model": "m", "tasks": {}}', r'expected "format": 1'),
    ('{"format": 1, "run_id": "x", "model": "m"}', r'expected "tasks"'),
    ('{"format": 1, "run_id": "x", "model": "m", "tasks": {"direct": {"dataset": "d", "metrics": {"hr@10": 0.2}}}}',
     r"tasks\.direct\.metrics\.hr@10: expected"),
    ('{"format": 1, "run_id": "x", "model": "m", "tasks": {"direct": {"dataset": "d", '
     '"metrics": {"hr@10": {"value": 0.2, "ci": [0.1]}}}}}', r"hr@10: ci should be"),
    ('[1, 2]', r"expected a JSON object"),
])  # fmt: skip
def test_load_runs_names_file_and_problem(tmp_path: Path, content: str, expected: str):
    file = tmp_path / "run" / "metrics.json"
    file.parent.mkdir()
    file.write_text(content)
    with pytest.raises(LLMRecError, match=expected) as err:
        load_runs([file.parent])
    assert str(file) in str(err.value)


def test_load_runs_missing_paths(tmp_path: Path):
    with pytest.raises(LLMRecError, match="no such file or folder"):
        load_runs([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(LLMRecError, match="no metrics.json"):
        load_runs([tmp_path / "empty"])


def test_markdown_has_one_leaderboard_per_task_and_dataset(runs_dir: Path):
    md = render_report(load_runs([runs_dir]), "md")
    assert re.findall(r"^## .*$", md, re.M) == ["## Summary across tasks", "## rating · movielens-100k",
                                                "## direct · movielens-100k",
                                                "## Paired comparisons", "## Runs"]

    direct = section(md, "direct · movielens-100k")
    header = header_of(direct)
    assert header[:4] == ["model", "n", "settings", "hr@1 ↑"]
    assert "parse failure ↓" in header and "ndcg@10 ↑" in header
    pop, smol = row_of(direct, "popularity"), row_of(direct, "smollm2")
    hr10 = header.index("hr@10 ↑")
    assert pop[hr10] == "**0.2000 ± 0.0250**"  # higher is better: the larger hr@10 is marked
    assert smol[hr10] == "0.1200 ± 0.0250"
    # rates as percentages, lower is better
    assert smol[header.index("out of candidate ↓")] == "10.0% ± 2.0"
    assert pop[header.index("out of candidate ↓")] == "**0.0%**"
    assert pop[1] == smol[1] == "943"

    rating = section(md, "rating · movielens-100k")
    header = header_of(rating)
    pop, smol = row_of(rating, "popularity"), row_of(rating, "smollm2")
    assert pop[header.index("rmse ↓")] == "**1.1000 ± 0.0200**"  # lower is better for rmse
    assert smol[header.index("rmse ↓")] == "1.3500 ± 0.0300"
    # metrics a run lacks are shown as missing, not as zero
    assert smol[header.index("coverage ↑")] == "—"
    assert pop[header.index("parse failure ↓")] == "—"
    # one protocol: described once, no block letters
    assert "**Protocol**: 943 samples, sample ids 5e5e5e5e, 100 candidates, shuffled order" in rating


def test_a_few_samples_are_never_best_above_a_full_test_set(tmp_path: Path):
    write_run(tmp_path, "full__a", "itemknn", {"direct": (ranking_metrics(0.30), CLASSIC)})
    write_run(tmp_path, "full__b", "popularity", {"direct": (ranking_metrics(0.20), CLASSIC)})
    few = {"n_samples": 3, "sample_ids_sha256": "01" * 32, "limit": 3, "counts": {"samples": 3}}
    write_run(tmp_path, "few__c", "smollm2", {"direct": (ranking_metrics(0.67), few)})
    md = render_report(load_runs([tmp_path]), "md")
    direct = section(md, "direct · movielens-100k")
    hr10 = header_of(direct).index("hr@10 ↑")
    assert row_of(direct, "smollm2")[hr10] == "0.6700 ± 0.0250"  # the highest value, and not marked
    assert row_of(direct, "smollm2")[1] == "3"
    assert row_of(direct, "itemknn")[hr10] == "**0.3000 ± 0.0250**"  # best among the 943-sample rows
    assert [labels_of(t) for t in tables(direct)] == [["itemknn", "popularity"], ["smollm2"]]
    assert "**Protocol B**: differs from A in n_samples: 943 → 3; sample_ids_sha256: 5e5e5e5e → 01010101" in direct
    assert "2 protocols" in direct

    page = render_report(load_runs([tmp_path]), "html")
    assert "<td class='best'>0.3000" in page and "<td class='best'>0.6700" not in page


def test_rows_with_another_candidate_order_are_another_protocol(tmp_path: Path):
    write_run(tmp_path, "a", "itemknn", {"direct": (ranking_metrics(0.30), CLASSIC)})
    write_run(tmp_path, "b", "popularity", {"direct": (ranking_metrics(0.20), CLASSIC)})
    target_first = CLASSIC | {"candidate_order": "target-first"}
    write_run(tmp_path, "c", "itemknn", {"direct": (ranking_metrics(0.40), target_first)})
    md = render_report(load_runs([tmp_path]), "md")
    direct = section(md, "direct · movielens-100k")
    assert [labels_of(t) for t in tables(direct)] == [["itemknn", "popularity"], ["itemknn"]]
    assert "**Protocol B**: differs from A in candidate_order: shuffled → target-first" in direct
    assert "0.4000 ± 0.0250" in direct and "**0.4000" not in direct  # a block of one row marks nothing

    groups = group_runs(load_runs([tmp_path]))
    assert [[r.run_id for r in b.rows] for b in groups[0].blocks] == [["a", "b"], ["c"]]


def test_old_runs_load_and_are_protocol_unknown(tmp_path: Path):
    write_run(tmp_path, "old__a", "itemknn", {"direct": (ranking_metrics(0.50), {})}, old=True)
    write_run(tmp_path, "old__b", "popularity", {"direct": (ranking_metrics(0.40), {"n_samples": None})}, old=True)
    write_run(tmp_path, "new__c", "itemknn", {"direct": (ranking_metrics(0.30), CLASSIC)})
    write_run(tmp_path, "new__d", "popularity", {"direct": (ranking_metrics(0.20), CLASSIC)})
    md = render_report(load_runs([tmp_path]), "md")
    direct = section(md, "direct · movielens-100k")
    known, unknown = tables(direct)
    assert labels_of(known) == ["itemknn", "popularity"] and "**0.3000" in known
    assert labels_of(unknown) == ["itemknn", "popularity"] and "**" not in unknown  # not known to be comparable
    assert re.search(r"\*\*Protocol unknown\*\*: recorded before runs stored their protocol \(no split, "
                     r"candidate_order, seed, sample_ids_sha256, metrics_version\)", direct)
    assert row_of(unknown, "popularity")[1] == "943"  # n from the counts when n_samples is missing

    alone = tmp_path / "alone"
    write_run(alone, "old__e", "itemknn", {"direct": (ranking_metrics(0.5), {})}, old=True)
    write_run(alone, "old__f", "popularity", {"direct": (ranking_metrics(0.4), {})}, old=True)
    assert "**" not in tables(render_report(load_runs([alone]), "md"))[0]


def test_rows_are_sorted_by_the_headline_metric_best_first(tmp_path: Path):
    for run_id, model, hr10 in (("a", "random", 0.1), ("b", "itemknn", 0.5), ("c", "popularity", 0.4)):
        write_run(tmp_path, run_id, model, {"direct": (ranking_metrics(hr10), CLASSIC)})
    write_run(tmp_path, "d", "nothing", {"direct": ({"hr@10": metric(None)}, CLASSIC)})  # no value: last
    text_and_rating = (("e", "mf", 0.95, 20.0), ("f", "user-mean", 1.05, 30.0), ("g", "llm", 0.90, 10.0))
    for run_id, model, rmse, rouge in text_and_rating:
        write_run(tmp_path, run_id, model, {"rating": ({"rmse": metric(rmse)}, CLASSIC),
                                            "review": ({"bleu-4": metric(1.0), "rouge-1": metric(rouge)}, CLASSIC)})
    md = render_report(load_runs([tmp_path]), "md")
    direct = section(md, "direct · movielens-100k")
    assert labels_of(tables(direct)[0]) == ["itemknn", "popularity", "random", "nothing"]
    assert "_Rows sorted by hr@10 (highest first); ties by ndcg@10._" in direct
    rating = section(md, "rating · movielens-100k")
    assert labels_of(tables(rating)[0]) == ["llm", "mf", "user-mean"]  # rmse: lower is better
    assert "_Rows sorted by rmse (lowest first)._" in rating
    review = section(md, "review · movielens-100k")
    assert labels_of(tables(review)[0]) == ["user-mean", "mf", "llm"]
    assert "sorted by rouge-1 (highest first); ties by bleu-4" in review


def test_each_row_lists_its_settings_and_n(tmp_path: Path):
    write_run(tmp_path, "llm__a", "smollm2", {"rating": ({"rmse": metric(1.3)}, {"limit": 20, "n_samples": 20,
                                                                                "sample_ids_sha256": "02" * 32})},
              manifest={"backend": {"adapter": "/ckpt/beauty-lora"}})
    write_run(tmp_path, "few__b", "smollm2", {"rating": ({"rmse": metric(1.2)}, {"template": "few-shot", "shots": 3})})
    write_run(tmp_path, "mf__c", "mf", {"rating": ({"rmse": metric(0.9)}, CLASSIC)})
    md = render_report(load_runs([tmp_path]), "md")
    rating = section(md, "rating · movielens-100k")
    assert row_of(rating, "smollm2 · beauty-lora")[1:3] == [
        "20", "template=zero-shot, scoring=generate, max_new_tokens=64, temperature=0, truncation=left, limit=20, "
              "adapter=beauty-lora"]  # fmt: skip
    assert row_of(rating, "smollm2")[1:3] == [
        "943", "template=few-shot, shots=3, scoring=generate, max_new_tokens=64, temperature=0, truncation=left"]
    assert row_of(rating, "mf")[1:3] == ["943", "scoring=classic"]  # null settings are not listed

    page = render_report(load_runs([tmp_path]), "html")
    assert "<td class='settings left'>template=few-shot, shots=3, scoring=generate" in page


def test_reruns_of_one_configuration_are_told_apart(runs_dir: Path):
    write_run(runs_dir, "smol__c", "smollm2", {"direct": (ranking_metrics(0.13), {})})
    write_run(runs_dir, "smol__d", "smollm2", {"direct": (ranking_metrics(0.11), {"template": "few-shot"})})
    md = render_report(load_runs([runs_dir]), "md")
    # the settings that differ tell rows apart; the run id tells apart reruns of one configuration
    assert labels_of(tables(section(md, "direct · movielens-100k"))[0]) == [
        "popularity", "smollm2 (template=zero-shot) (smol__c)", "smollm2 (template=zero-shot) (smol__b)",
        "smollm2 (template=few-shot)"]


def test_adapter_in_metrics_and_truncated_prompts_are_shown(tmp_path: Path):
    folder = write_run(tmp_path / "ci", "lora__b", "smollm2",  # nested below the folder given
                       {"direct": (ranking_metrics(0.3), {"counts": {"samples": 943, "truncated": 7}})})
    data = json.loads((folder / "metrics.json").read_text())
    data["adapter"] = "adapters/beauty-lora/"
    (folder / "metrics.json").write_text(json.dumps(data))
    write_run(tmp_path, "base__a", "smollm2", {"direct": (ranking_metrics(0.2), {})})
    md = render_report(load_runs([tmp_path]), "md")
    direct = section(md, "direct · movielens-100k")
    assert header_of(direct)[:4] == ["model", "n", "settings", "truncated"]
    assert row_of(direct, "smollm2 · beauty-lora")[3] == "7"
    assert row_of(direct, "smollm2")[3] == "0"


def test_metrics_scored_by_llmrec_metrics_render(tmp_path: Path):
    from llmrec.metrics import score
    from llmrec.types import Prediction

    # nothing parsed: MAE/RMSE are NaN in the record and must show as missing, not crash
    failed = score("rating", [Prediction(None, parse_failed=True)] * 3, [4.0, 3.0, 5.0], n_boot=50)
    ranked = score("ranking", [Prediction([3, 1, 2]), Prediction([2, 9], hallucinated=1)], [1, 2], n_boot=50)
    write_run(tmp_path, "a", "m", {"rating": (failed, {}), "direct": (ranked, {})})
    runs = load_runs([tmp_path])
    md = render_report(runs, "md")
    rating = section(md, "rating · movielens-100k")
    row = row_of(rating, "m")
    assert row[header_of(rating).index("rmse ↓")] == "—"
    assert row[header_of(rating).index("parse failure ↓")] == "100.0%"
    direct = section(md, "direct · movielens-100k")
    assert row_of(direct, "m")[header_of(direct).index("hr@1 ↑")].startswith("0.5000")
    # direct: curves + validity bars (a hallucination); rating: validity bars only, no empty RMSE/MAE plot
    assert len(decoded_images(render_report(runs, "html"))) == 3


def test_text_metrics_and_a_single_row(tmp_path: Path):
    write_run(tmp_path, "one", "smollm2", {"review": ({"rouge-1": metric(12.345, 0.5), "bleu-4": metric(None),
                                                       "p5-rouge-1": metric(20.5, 0.25)}, {})})
    md = render_report(load_runs([tmp_path]), "md")
    review = section(md, "review · movielens-100k")
    row = row_of(review, "smollm2")
    # x100 metrics with two decimals (P5's ROUGE too); null value shown as missing
    assert "12.35 ± 0.50" in row and "20.50 ± 0.25" in row and "—" in row
    assert "**" not in tables(review)[0]  # nothing to highlight with a single row


def test_metric_names_other_modules_add():
    assert is_percent_scale("p5-rouge-1") and is_percent_scale("p5-rouge-l") and is_percent_scale("bleu-4")
    assert not is_percent_scale("strict_hr@10") and not is_percent_scale("hr@10")
    assert lower_is_better("strict_parse_failure_rate") and lower_is_better("rmse")
    assert not lower_is_better("strict_mrr")
    assert format_value("p5-rouge-2", 12.3456) == "12.35" and format_half_ci("strict_hr@10", 0.0123) == "± 0.0123"
    names = {"strict_mrr", "hr@10", "strict_hr@10", "p5-rouge-1", "rouge-1", "zeta-score", "alpha-score"}
    assert ordered(names, QUALITY_ORDER) == ["hr@10", "strict_hr@10", "strict_mrr", "rouge-1", "p5-rouge-1",
                                             "alpha-score", "zeta-score"]
    assert ordered({"duplicate_rate", "strict_parse_failure_rate", "parse_failure_rate"}, VALIDITY_ORDER) == [
        "parse_failure_rate", "strict_parse_failure_rate", "duplicate_rate"]


def test_unknown_metric_names_render(tmp_path: Path):
    write_run(tmp_path, "a", "m1", {"direct": (ranking_metrics(0.2) | {"strict_hr@10": metric(0.15, 0.02),
                                                                       "novelty": metric(0.7),
                                                                       "strict_parse_failure_rate": metric(0.1)}, {})})
    write_run(tmp_path, "b", "m2", {"direct": (ranking_metrics(0.3) | {"strict_hr@10": metric(0.25, 0.02),
                                                                       "strict_parse_failure_rate": metric(0.2)}, {})})
    runs = load_runs([tmp_path])
    md = render_report(runs, "md")
    direct = section(md, "direct · movielens-100k")
    header = header_of(direct)
    assert header.index("mrr ↑") < header.index("strict_hr@10 ↑") < header.index("novelty ↑")
    assert row_of(direct, "m2")[header.index("strict_hr@10 ↑")] == "**0.2500 ± 0.0200**"
    assert row_of(direct, "m1")[header.index("strict parse failure ↓")] == "**10.0%**"
    assert row_of(direct, "m2")[header.index("novelty ↑")] == "—"
    assert render_report(runs, "html").rstrip().endswith("</html>")


def test_undefined_values_and_ties(tmp_path: Path):
    # records may hold NaN for a metric no sample defines (MAE when nothing parsed)
    write_run(tmp_path, "a", "m1", {"rating": ({"mae": metric(float("nan")), "coverage": metric(1.0, 0.0)}, {})})
    write_run(tmp_path, "b", "m2", {"rating": ({"mae": metric(0.8, 0.01), "coverage": metric(1.0, 0.0)}, {})})
    md = render_report(load_runs([tmp_path]), "md")
    rating = section(md, "rating · movielens-100k")
    header = header_of(rating)
    m1, m2 = row_of(rating, "m1"), row_of(rating, "m2")
    assert m1[header.index("mae ↓")] == "—"
    assert m2[header.index("mae ↓")] == "0.8000 ± 0.0100"  # the only defined value is not "best"
    assert m1[header.index("coverage ↑")] == m2[header.index("coverage ↑")] == "1.0000"  # tie, no CI width


def test_sections_render_in_order_and_a_new_one_is_one_entry(runs_dir: Path, monkeypatch):
    extra = Section(lambda r: f"## Extra\n\n{len(r.runs)} runs\n", lambda r: f"<h2>Extra</h2><p>{len(r.runs)}</p>")
    monkeypatch.setattr(report, "SECTIONS", [*report.SECTIONS, extra])
    md = render_report(load_runs([runs_dir]), "md")
    assert md.index("## direct") < md.index("## Runs") < md.index("## Extra\n\n2 runs")
    page = render_report(load_runs([runs_dir]), "html")
    assert page.index("Runs included") < page.index("<h2>Extra</h2><p>2</p>") < page.index("</body>")


def decoded_images(page: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)]


def test_html_is_one_self_contained_file_with_plots_and_highlights(runs_dir: Path):
    page = render_report(load_runs([runs_dir]), "html")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<style>" in page
    assert not re.search(r"(src|href)=['\"](https?:|//|file:)", page)  # nothing fetched from outside
    images = decoded_images(page)
    # direct: HR/NDCG curves + validity bars; rating: rmse/mae bars + validity bars (smollm2 failed to parse 4%)
    assert len(images) == 4
    assert all(img.startswith(b"\x89PNG\r\n\x1a\n") and len(img) > 5000 for img in images)
    assert "<td class='best'>0.2000<span class='ci'>± 0.0250</span></td>" in page  # hr@10, higher wins
    assert "<td class='best'>1.1000<span class='ci'>± 0.0200</span></td>" in page  # rmse, lower wins
    assert "<td class='best'>1.3500" not in page


def test_html_has_plots_per_protocol_block(tmp_path: Path):
    write_run(tmp_path, "a", "m1", {"sequential": (ranking_metrics(0.1), {})})
    write_run(tmp_path, "b", "m2", {"sequential": (ranking_metrics(0.2), {})})
    write_run(tmp_path, "c", "m3", {"sequential": (ranking_metrics(0.3), {"seed": 7})})
    page = render_report(load_runs([tmp_path]), "html")
    assert len(decoded_images(page)) == 2  # one HR/NDCG figure per protocol, never both protocols on one axis
    assert page.count("Every answer was valid") == 1  # once for the group
    assert "<b>Protocol B</b>: differs from A in seed: 2023 → 7" in page


def test_run_colors_follow_sorted_run_ids():
    runs = [{"run_id": i} for i in ("mf__2", "itemknn__1", "smollm2__3")]
    colors = run_colors(runs)
    assert colors == run_colors(list(reversed(runs)))  # the same whatever the order the runs were read in
    assert list(colors) == ["itemknn__1", "mf__2", "smollm2__3"] and len(set(colors.values())) == 3
    assert len(set(run_colors([{"run_id": f"r{i:02}"} for i in range(20)]).values())) == 20


def test_a_run_keeps_its_colour_in_every_table_and_plot(tmp_path: Path):
    from matplotlib.colors import to_hex
    from matplotlib.container import BarContainer

    from llmrec.reporting.plots import quality_bars, ranking_curves

    write_run(tmp_path, "zz__a", "popularity", {"direct": (ranking_metrics(0.2), CLASSIC),
                                                "rating": ({"rmse": metric(1.1, 0.02)}, CLASSIC)})
    write_run(tmp_path, "aa__b", "itemknn", {"direct": (ranking_metrics(0.3), CLASSIC)})
    write_run(tmp_path, "mm__c", "mf", {"rating": ({"rmse": metric(0.9, 0.02)}, CLASSIC)})
    runs = load_runs([tmp_path])
    whole = Report(runs)
    pop = whole.colors["zz__a"]
    rating, direct = whole.groups
    curves = ranking_curves(direct.blocks[0].rows, whole.colors)
    lines = {curve.get_label(): to_hex(curve.lines[0].get_color()) for curve in curves.axes[0].containers}
    assert lines == {"itemknn": whole.colors["aa__b"], "popularity": pop}
    bars = quality_bars(rating.blocks[0].rows, ["rmse"], whole.colors, "rating")
    colours = {bar.get_label(): to_hex(bar.patches[0].get_facecolor()) for bar in bars.axes[0].containers
               if isinstance(bar, BarContainer)}
    assert colours == {"mf": whole.colors["mm__c"], "popularity": pop}
    page = render_report(runs, "html")
    swatch = f"<span class='swatch' style='background:{pop}'></span>"
    assert page.count(f"{swatch}<a href='#samples' data-dd-run='zz__a'") == 2  # the rating and direct tables
    assert page.count(f"{swatch}popularity") == 1  # the summary across tasks
    assert f"background:{pop}'></span><code>zz__a</code>" in page  # and the run list


def test_html_skips_validity_plot_when_all_answers_were_valid(tmp_path: Path):
    write_run(tmp_path, "a", "m1", {"sequential": (ranking_metrics(0.1), {})})
    write_run(tmp_path, "b", "m2", {"sequential": (ranking_metrics(0.2), {})})
    page = render_report(load_runs([tmp_path]), "html")
    assert len(decoded_images(page)) == 1
    assert "Every answer was valid" in page


def test_html_escapes_labels(tmp_path: Path):
    write_run(tmp_path, "a", "<script>alert(1)</script>", {"rating": ({"rmse": metric(1.0)}, {})})
    page = render_report(load_runs([tmp_path]), "html")
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page


def test_render_rejects_unknown_format_and_no_runs(runs_dir: Path):
    with pytest.raises(LLMRecError, match=r"--format: unknown report format 'pdf' \(expected one of: md, html, csv, json\)"):
        render_report(load_runs([runs_dir]), "pdf")
    with pytest.raises(LLMRecError, match="no runs"):
        render_report([], "md")


def test_paired_comparisons_pair_each_block_top_row_with_the_others(tmp_path, prepared_cache):
    from llmrec.evaluation.runner import Bench, BenchConfig
    from llmrec.tasks import parse_task_list

    for model in ("popularity", "itemknn"):
        Bench(BenchConfig(model=model, tasks=parse_task_list("direct"), output=tmp_path / "runs",
                          data_dir=prepared_cache)).run()
    text = render_report(load_runs([tmp_path / "runs"]), "md")
    paired = text[text.index("## Paired comparisons"):]
    assert "| direct · movielens-100k | itemknn | popularity | hr@10 (" in paired
    assert "itemknn better" in paired
    # a row whose samples were not recorded (a baseline file) is named, not silently left out
    (samples,) = (tmp_path / "runs").glob("popularity__*/samples.jsonl")
    samples.unlink()
    text = render_report(load_runs([tmp_path / "runs"]), "html")
    assert "Paired comparisons" in text and "not paired:" in text


# ---------------------------------------------------------------- filters, labels, exports


@pytest.fixture
def run_report(capsys, monkeypatch):
    """`llmrec report ARGS` in this process, as `python -m llmrec` runs it: (exit code, stdout, stderr)."""
    from test_cli import run_cli

    return lambda *args: run_cli(capsys, monkeypatch, "report", *args)


def test_filters_keep_the_matching_runs_and_tasks(runs_dir: Path, run_report):
    write_run(runs_dir, "mf__c", "mf", {"rating": ({"rmse": metric(0.95, 0.02)}, CLASSIC | {"dataset": "beauty"})})
    code, out, _ = run_report(str(runs_dir), "--task", "rating", "--model", "smollm2, mf")
    assert code == 0
    assert "## direct" not in out and "## rating · movielens-100k" in out and "## rating · beauty" in out
    assert labels_of(tables(section(out, "rating · movielens-100k"))[0]) == ["smollm2"]  # popularity filtered out
    code, out, _ = run_report(str(runs_dir), "--dataset", "beauty", "--format", "json")
    assert code == 0 and {(r["run_id"], r["task"]) for r in json.loads(out)} == {("mf__c", "rating")}


@pytest.mark.parametrize("args, message", [
    (["--task", "ratng"], "error: --task ratng: no run has it; did you mean rating? (the runs have: direct, rating)"),
    (["--model", "smollm"], "error: --model smollm: no run has it; did you mean smollm2? "
                            "(the runs have: popularity, smollm2)"),
    (["--dataset", "beauty"], "error: --dataset beauty: no run has it (the runs have: movielens-100k)"),
])  # fmt: skip
def test_a_filter_that_matches_no_run_is_one_line_naming_what_exists(runs_dir: Path, run_report, args, message):
    code, out, err = run_report(str(runs_dir), *args)
    assert (code, out, err.strip()) == (2, "", message)


def test_filters_that_match_only_apart_are_refused(runs_dir: Path, run_report):
    write_run(runs_dir, "mf__c", "mf", {"rating": ({"rmse": metric(0.95, 0.02)}, CLASSIC)})
    code, _, err = run_report(str(runs_dir), "--task", "direct", "--model", "mf")
    assert code == 2 and err.strip() == ("error: --task direct --model mf: no run matches these filters together "
                                         "(each matches some run on its own)")


def test_rows_show_a_local_folder_by_its_last_part_and_hub_ids_whole(tmp_path: Path):
    write_run(tmp_path, "smol-dpo__1111111111", "/models/ckpt/smol-dpo/", {"direct": (ranking_metrics(0.3), {})})
    write_run(tmp_path, "SmolLM2__2222222222", "HuggingFaceTB/SmolLM2-135M-Instruct",
              {"direct": (ranking_metrics(0.2), {})})
    runs = load_runs([tmp_path])
    direct = section(render_report(runs, "md"), "direct · movielens-100k")
    assert labels_of(tables(direct)[0]) == ["smol-dpo", "HuggingFaceTB/SmolLM2-135M-Instruct"]
    assert "/models/ckpt/smol-dpo/" in render_report(runs, "md")  # the run list keeps the full name
    # a run's short label selects it, as its recorded name does
    assert [r["run_id"] for r in select_runs(runs, models=["smol-dpo"])] == ["smol-dpo__1111111111"]
    assert [r["run_id"] for r in select_runs(runs, models=["/models/ckpt/smol-dpo/"])] == ["smol-dpo__1111111111"]


def test_different_models_with_one_folder_name_get_the_run_id_suffix(tmp_path: Path):
    write_run(tmp_path, "checkpoint__aaaa000001", "./runs/a/checkpoint", {"direct": (ranking_metrics(0.3), {})})
    write_run(tmp_path, "checkpoint__bbbb000002", "./runs/b/checkpoint", {"direct": (ranking_metrics(0.2), {})})
    write_run(tmp_path, "smollm2__cccc000003", "smollm2", {"direct": (ranking_metrics(0.1), {})})
    md = render_report(load_runs([tmp_path]), "md")
    assert labels_of(tables(section(md, "direct · movielens-100k"))[0]) == [
        "checkpoint (aaaa000001)", "checkpoint (bbbb000002)", "smollm2"]
    assert label_runs([{"model": "models/x/m", "run_id": "m__1"}, {"model": "m", "run_id": "m__2"}])[0]["label"] == \
        "m (1)"  # a hub-style alias and a folder of that name are two models too


def test_csv_has_one_row_per_run_task_and_metric_with_ci_and_protocol(runs_dir: Path):
    runs = load_runs([runs_dir])
    rows = list(csv.DictReader(io.StringIO(render_report(runs, "csv"))))
    expected = sum(len(e["metrics"]) for r in runs for e in r["tasks"].values())
    assert len(rows) == expected == 2 * 10 + 3 + 3
    assert list(rows[0])[:8] == ["run_id", "model", "label", "task", "metric", "value", "ci_lo", "ci_hi"]
    assert set(PROTOCOL_KEYS) <= set(rows[0])
    hr10 = next(r for r in rows if (r["run_id"], r["task"], r["metric"]) == ("smol__b", "direct", "hr@10"))
    assert (float(hr10["value"]), float(hr10["ci_lo"]), float(hr10["ci_hi"])) == pytest.approx((0.12, 0.095, 0.145))
    assert (hr10["seed"], hr10["candidates"], hr10["sample_ids_sha256"], hr10["dataset"]) == (
        "2023", "100", SAMPLE_IDS, "movielens-100k")
    coverage = next(r for r in rows if r["metric"] == "coverage")
    assert (coverage["value"], coverage["ci_lo"], coverage["ci_hi"]) == ("1.0", "", "")  # no CI: empty cells


def test_json_holds_the_csv_records_as_a_list(runs_dir: Path, tmp_path: Path, run_report):
    runs = load_runs([runs_dir])
    records = json.loads(render_report(runs, "json"))
    rows = list(csv.DictReader(io.StringIO(render_report(runs, "csv"))))
    assert isinstance(records, list) and len(records) == len(rows)
    assert [(r["run_id"], r["task"], r["metric"]) for r in records] == [
        (r["run_id"], r["task"], r["metric"]) for r in rows]
    coverage = next(r for r in records if r["metric"] == "coverage")
    assert (coverage["value"], coverage["ci_lo"], coverage["ci_hi"], coverage["seed"]) == (1.0, None, None, 2023)
    code, _, err = run_report(str(runs_dir), "--format", "json", "-o", str(tmp_path / "r.json"))
    assert code == 0 and json.loads((tmp_path / "r.json").read_text()) == records
