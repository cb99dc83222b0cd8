"""`llmrec report`: reading run records and rendering leaderboards (Markdown and one-file HTML)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from llmrec.errors import LLMRecError
from llmrec.report import load_runs, render_report


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


def write_run(root: Path, run_id: str, model: str, tasks: dict, created="2026-11-27T10:00:00Z",
              manifest: dict | None = None) -> Path:
    folder = root / run_id
    folder.mkdir(parents=True)
    full = {}
    for task, (metrics, extra) in tasks.items():
        full[task] = {"dataset": "movielens-100k", "fingerprint": "ab" * 32, "template": "zero-shot",
                      "template_hash": "cd" * 32, "scoring": "generate", "candidates": 100, "n_samples": 943,
                      "metrics": metrics, "counts": {"samples": 943}} | extra
    record = {"format": 1, "run_id": run_id, "model": model, "created": created, "tasks": full}
    (folder / "metrics.json").write_text(json.dumps(record, indent=2))
    if manifest is not None:
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    write_run(root, "pop__a", "popularity", {
        "direct": (ranking_metrics(0.20), {"template": None, "template_hash": None, "scoring": None}),
        "rating": ({"rmse": metric(1.10, 0.02), "mae": metric(0.90, 0.02), "coverage": metric(1.0)}, {}),
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


def row_of(md_section: str, label: str) -> list[str]:
    for line in md_section.splitlines():
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if cells and cells[0].strip("*") == label:
            return cells
    raise AssertionError(f"no row {label!r} in:\n{md_section}")


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
    assert re.findall(r"^## .*$", md, re.M) == ["## rating · movielens-100k", "## direct · movielens-100k"]

    direct = section(md, "direct · movielens-100k")
    header = header_of(direct)
    assert header[:3] == ["model", "samples", "hr@1 ↑"]
    assert "parse failure ↓" in header and "ndcg@10 ↑" in header
    pop, smol = row_of(direct, "popularity"), row_of(direct, "smollm2 · zero-shot · generate")
    hr10 = header.index("hr@10 ↑")
    assert pop[hr10] == "**0.2000 ± 0.0250**"  # higher is better: the larger hr@10 is marked
    assert smol[hr10] == "0.1200 ± 0.0250"
    # rates as percentages, lower is better
    assert smol[header.index("out of candidate ↓")] == "10.0% ± 2.0"
    assert pop[header.index("out of candidate ↓")] == "**0.0%**"
    assert pop[1] == "943"

    rating = section(md, "rating · movielens-100k")
    header = header_of(rating)
    pop, smol = row_of(rating, "popularity · zero-shot · generate"), row_of(rating, "smollm2 · zero-shot · generate")
    assert pop[header.index("rmse ↓")] == "**1.1000 ± 0.0200**"  # lower is better for rmse
    assert smol[header.index("rmse ↓")] == "1.3500 ± 0.0300"
    # metrics a run lacks are shown as missing, not as zero
    assert smol[header.index("coverage ↑")] == "—"
    assert pop[header.index("parse failure ↓")] == "—"


def test_reruns_of_one_configuration_are_told_apart(runs_dir: Path):
    write_run(runs_dir, "smol__c", "smollm2", {"direct": (ranking_metrics(0.13), {})})
    md = render_report(load_runs([runs_dir]), "md")
    direct = section(md, "direct · movielens-100k")
    row_of(direct, "smollm2 · zero-shot · generate (smol__b)")
    row_of(direct, "smollm2 · zero-shot · generate (smol__c)")


def test_adapter_from_manifest_labels_the_row(tmp_path: Path):
    write_run(tmp_path, "lora__a", "smollm2", {"direct": (ranking_metrics(0.3), {})},
              manifest={"backend": {"adapter": "/ckpt/beauty-lora"}})
    md = render_report(load_runs([tmp_path]), "md")
    row_of(section(md, "direct · movielens-100k"), "smollm2 · zero-shot · generate · beauty-lora")


def test_adapter_in_metrics_and_truncated_prompts_are_shown(tmp_path: Path):
    folder = write_run(tmp_path / "ci", "lora__b", "smollm2",  # nested below the folder given
                       {"direct": (ranking_metrics(0.3), {"counts": {"samples": 943, "truncated": 7}})})
    data = json.loads((folder / "metrics.json").read_text())
    data["adapter"] = "adapters/beauty-lora/"
    (folder / "metrics.json").write_text(json.dumps(data))
    write_run(tmp_path, "base__a", "smollm2", {"direct": (ranking_metrics(0.2), {})})
    md = render_report(load_runs([tmp_path]), "md")
    direct = section(md, "direct · movielens-100k")
    assert header_of(direct)[:3] == ["model", "samples", "truncated"]
    assert row_of(direct, "smollm2 · zero-shot · generate · beauty-lora")[2] == "7"
    assert row_of(direct, "smollm2 · zero-shot · generate")[2] == "0"


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
    row = row_of(rating, "m · zero-shot · generate")
    assert row[header_of(rating).index("rmse ↓")] == "—"
    assert row[header_of(rating).index("parse failure ↓")] == "100.0%"
    direct = section(md, "direct · movielens-100k")
    assert row_of(direct, "m · zero-shot · generate")[header_of(direct).index("hr@1 ↑")].startswith("0.5000")
    # direct: curves + validity bars (a hallucination); rating: validity bars only, no empty RMSE/MAE plot
    assert len(decoded_images(render_report(runs, "html"))) == 3


def test_single_run_and_differing_protocols_are_flagged(tmp_path: Path):
    write_run(tmp_path, "one", "smollm2", {"review": ({"rouge-1": metric(12.345, 0.5), "bleu-4": metric(None)}, {})})
    md = render_report(load_runs([tmp_path]), "md")
    review = section(md, "review · movielens-100k")
    row = row_of(review, "smollm2 · zero-shot · generate")
    assert "12.35 ± 0.50" in row and "—" in row  # x100 metrics with two decimals; null value shown as missing
    assert "**" not in review  # nothing to highlight with a single row

    write_run(tmp_path, "two", "popularity", {"review": ({"rouge-1": metric(10.0)}, {"fingerprint": "ef" * 32})})
    md = render_report(load_runs([tmp_path]), "md")
    assert "warning: rows were built from different data" in md


def test_undefined_values_and_ties(tmp_path: Path):
    # records may hold NaN for a metric no sample defines (MAE when nothing parsed)
    write_run(tmp_path, "a", "m1", {"rating": ({"mae": metric(float("nan")), "coverage": metric(1.0, 0.0)}, {})})
    write_run(tmp_path, "b", "m2", {"rating": ({"mae": metric(0.8, 0.01), "coverage": metric(1.0, 0.0)}, {})})
    md = render_report(load_runs([tmp_path]), "md")
    rating = section(md, "rating · movielens-100k")
    header = header_of(rating)
    m1, m2 = row_of(rating, "m1 · zero-shot · generate"), row_of(rating, "m2 · zero-shot · generate")
    assert m1[header.index("mae ↓")] == "—"
    assert m2[header.index("mae ↓")] == "0.8000 ± 0.0100"  # the only defined value is not "best"
    assert m1[header.index("coverage ↑")] == m2[header.index("coverage ↑")] == "1.0000"  # tie, no CI width


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


def test_html_skips_validity_plot_when_all_answers_were_valid(tmp_path: Path):
    write_run(tmp_path, "a", "m1", {"sequential": (ranking_metrics(0.1), {})})
    write_run(tmp_path, "b", "m2", {"sequential": (ranking_metrics(0.2), {})})
    page = render_report(load_runs([tmp_path]), "html")
    assert len(decoded_images(page)) == 1
    assert "Every answer was valid" in page


def test_html_escapes_labels(tmp_path: Path):
    write_run(tmp_path, "a", "<script>alert(1)</script>", {"rating": ({"rmse": metric(1.0)}, {})})
    page = render_report(load_runs([tmp_path]), "html")
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_render_rejects_unknown_format_and_no_runs(runs_dir: Path):
    with pytest.raises(LLMRecError, match="expected md or html"):
        render_report(load_runs([runs_dir]), "pdf")
    with pytest.raises(LLMRecError, match="no runs"):
        render_report([], "md")
