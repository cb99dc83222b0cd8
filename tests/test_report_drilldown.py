"""The HTML report's per-sample drill-down, its cross-task summary, and the leaderboards as CSV/JSON records."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from llmrec.records import SampleLog
from llmrec.reporting.groups import Cell, Report
from llmrec.reporting.overview import summarise
from llmrec.reporting.report import load_runs, render_report
from llmrec.reporting.select import label_runs
from test_report import CLASSIC, metric, ranking_metrics, write_run


def embedded_tables(page: str) -> list[dict]:
    """The drill-down's tables as the page embeds them, in order."""
    found = re.findall(r"<script type='application/json' id='dd-(\d+)'>(.*?)</script>", page, re.S)
    assert [int(i) for i, _ in found] == list(range(len(found)))
    return [json.loads(text) for _, text in found]


def recorded(run_folder: Path, task: str) -> list[dict]:
    """A run's samples.jsonl records of `task`, as JSON reads them back."""
    return [r for r in SampleLog.read(run_folder / "samples.jsonl").records.values() if r["task"] == task]


@pytest.fixture(scope="module")
def bench_runs(tmp_path_factory, prepared_cache):
    """popularity on the full direct and rating test sets, and a tiny random LLM on 3 sequential samples (its
    context is too short for a direct prompt's 100 candidates)."""
    from llmrec.backends.models import smollm2_folder
    from llmrec.evaluation.runner import Bench, BenchConfig
    from llmrec.tasks import parse_task_list
    from tiny_model import build_tiny_llama

    root = tmp_path_factory.mktemp("drilldown")
    Bench(BenchConfig(model="popularity", tasks=parse_task_list("direct,rating"), output=root / "runs",
                      data_dir=prepared_cache)).run()
    tiny = build_tiny_llama(root / "tiny", smollm2_folder()[0])
    Bench(BenchConfig(model=str(tiny), tasks=parse_task_list("sequential"), limit=3, max_new_tokens=24,
                      output=root / "runs", data_dir=prepared_cache, device="cpu")).run()
    return root / "runs"


@pytest.fixture
def data_env(monkeypatch, data_root):
    """The report finds the prepared data (the catalogue) where the runs' bench put it."""
    monkeypatch.setenv("LLMREC_DATA_DIR", str(data_root))


def test_drilldown_data_of_each_run_equals_its_samples_jsonl(bench_runs: Path, data_env):
    runs = load_runs([bench_runs])
    page = render_report(runs, "html")
    tables = embedded_tables(page)
    by_key = {(t["run_id"], t["task"]): t for t in tables}
    assert len(tables) == len(by_key) == 3  # popularity direct and rating, the tiny model's sequential
    for run in runs:
        for task in run["tasks"]:
            table = by_key[(run["run_id"], task)]
            records = recorded(Path(run["path"]).parent, task)
            assert [s["record"] for s in table["samples"]] == records
            assert len(records) == run["tasks"][task]["n_samples"]
    popularity_direct = next(t for t in tables if t["label"] == "popularity" and t["task"] == "direct")
    assert len(popularity_direct["samples"]) == 943 and popularity_direct["catalogue"].startswith("movielens-100k@")
    for sample in popularity_direct["samples"]:
        ranked, target = sample["record"]["prediction"]["value"], sample["record"]["reference"]
        assert sample["rank"] == (ranked.index(target) + 1 if target in ranked else None)
        assert (sample["rank"] == 1) == (sample["record"]["scores"]["hr@1"] == 1.0)
    titles = json.loads(re.search(r"id='dd-titles'>(.*?)</script>", page, re.S).group(1))
    first = popularity_direct["samples"][0]["record"]
    assert str(first["reference"]) in titles[popularity_direct["catalogue"]]
    llm = next(t for t in tables if t["label"] not in ("popularity",))
    assert all(isinstance(s["record"]["raw"], str) and "mentions" in s for s in llm["samples"])
    assert not any(s.get("reparsed_differs") for s in llm["samples"])  # today's parser reads what was recorded


def _catalogue(prepared_cache: Path, run_folder: Path):
    """The items frame of the preparation a run's direct task used."""
    from llmrec.data.cache import read_prepared

    fingerprint = json.loads((run_folder / "metrics.json").read_text())["tasks"]["direct"]["fingerprint"]
    folder = next(prepared_cache.glob(f"movielens-100k-{fingerprint[:12]}"))
    return read_prepared(folder, fingerprint, verify=False).items


def _parsed_record(items, raw: str, candidates: list[int]) -> dict:
    """A direct sample's record as the runner writes it, for `raw` parsed against the catalogue."""
    from llmrec.metrics import per_sample_scores
    from llmrec.parsing import ItemMatcher, parse_ranking

    prediction = parse_ranking(raw, ItemMatcher(items), candidates)
    target = candidates[0]
    return {"task": "direct", "sample_id": "u1", "user": 1, "item": target, "prompt": "Rank these.", "raw": raw,
            "prediction": prediction.to_json(), "reference": target, "truncated_history": 0,
            "scores": per_sample_scores("ranking", prediction, target)}


def test_mentions_say_which_item_each_matched_how_and_what_became_of_it(bench_runs, prepared_cache, data_env,
                                                                        tmp_path):
    from llmrec.parsing import ItemMatcher

    source = next(bench_runs.glob("popularity__*"))
    items = _catalogue(prepared_cache, source)
    by_title = {t: i for i, t in items["title"].items()}
    star_wars, godfather, shawshank = (by_title[t] for t in ("Star Wars (1977)", "Godfather, The (1972)",
                                                             "Shawshank Redemption, The (1994)"))
    by_id = next(i for i in sorted(items.index) if i not in (star_wars, godfather, shawshank))
    assert ItemMatcher(items).match_how("Shawshank Redemptio") == (shawshank, "fuzzy")  # no earlier step takes it
    raw = (f'["item_{by_id}", "Star Wars (1977)", "The Godfather", "Shawshank Redemptio", "Star Wars (1977)", '
           '"A Film That Never Was </script><b>"]')
    record = _parsed_record(items, raw, [star_wars, by_id, godfather])  # Shawshank is not a candidate
    run = tmp_path / "runs" / "llm__1"
    run.mkdir(parents=True)
    metrics = json.loads((source / "metrics.json").read_text())
    metrics.update(run_id="llm__1", model="some-llm", tasks={"direct": metrics["tasks"]["direct"]})
    (run / "metrics.json").write_text(json.dumps(metrics))
    differs = record | {"sample_id": "u2", "prediction": record["prediction"] | {"value": [godfather]}}
    judged = record | {"sample_id": "u3", "judge": {"relevance": 4, "fluency": 5}}
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (record, differs, judged)))

    page = render_report(load_runs([run]), "html")
    assert "</script><b>" not in page.split("id='dd-0'>", 1)[1].split("</script>", 1)[0]  # the answer stays data
    (table,) = embedded_tables(page)
    first, second, third = table["samples"]
    assert first["mentions"] == [
        [f"item_{by_id}", by_id, "id", "kept"],
        ["Star Wars (1977)", star_wars, "exact", "kept"],
        ["The Godfather", godfather, "normalized", "kept"],
        ["Shawshank Redemptio", shawshank, "fuzzy", "out of candidates"],
        ["Star Wars (1977)", star_wars, "exact", "duplicate"],
        ["A Film That Never Was </script><b>", None, None, "hallucinated"],
    ]
    assert first["record"]["prediction"]["value"] == [by_id, star_wars, godfather]
    assert first["rank"] == 2 and not first.get("reparsed_differs")
    assert second["reparsed_differs"] is True  # the recorded list is not what the answer reads as today
    assert table["judge"] == ["relevance", "fluency"] and third["record"]["judge"] == {"relevance": 4, "fluency": 5}
    titles = json.loads(re.search(r"id='dd-titles'>(.*?)</script>", page, re.S).group(1))[table["catalogue"]]
    assert titles[str(shawshank)] == "Shawshank Redemption, The (1994)"


def test_a_run_without_samples_or_catalogue_says_so(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("LLMREC_DATA_DIR", str(tmp_path / "no-data"))
    write_run(tmp_path / "runs", "pop__a", "popularity", {"direct": (ranking_metrics(0.2), CLASSIC)})
    folder = write_run(tmp_path / "runs", "knn__b", "itemknn", {"direct": (ranking_metrics(0.3), CLASSIC)})
    (folder / "samples.jsonl").write_text(json.dumps(
        {"task": "direct", "sample_id": "u1", "user": 1, "item": 7, "prompt": None, "raw": None,
         "prediction": {"value": [3, 7], "parse_failed": False}, "reference": 7, "scores": {"hr@1": 0.0}}) + "\n")
    knn, pop = embedded_tables(render_report(load_runs([tmp_path / "runs"]), "html"))
    assert knn["samples"][0]["rank"] == 2 and knn["catalogue"] is None and "is not in" in knn["note"]
    assert pop["samples"] == [] and "no samples.jsonl" in pop["note"]


@pytest.mark.skipif(not shutil.which("chromium"), reason="needs headless chromium")
def test_the_page_renders_a_page_of_rows_and_a_sample_in_a_browser(bench_runs: Path, data_env, tmp_path: Path):
    page = tmp_path / "report.html"
    page.write_text(render_report(load_runs([bench_runs]), "html"))
    (run,) = [p.name for p in bench_runs.glob("popularity__*")]
    url = f"file://{page}#run={run}&task=rating&filter=parsed&q=u1-&open=0"
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120).stdout
    rows = re.findall(r'<tr class="dd-row[^"]*" data-i="(\d+)">', dom)
    assert 0 < len(rows) <= 50  # one page, out of 9,984 samples
    assert re.search(r"1–\d+ of \d+ \(of 9984\)", dom)  # the search kept some: u1-i..., u10-i...
    assert "<h4>parsed answer</h4>" in dom and "none: a recommender answers from the data" in dom


# ---------------------------------------------------------------- the summary and the exports


@pytest.fixture
def two_protocols(tmp_path: Path) -> list[dict]:
    root = tmp_path / "runs"
    write_run(root, "pop__a", "popularity", {"direct": (ranking_metrics(0.20), CLASSIC),
                                             "rating": ({"rmse": metric(1.10, 0.02)}, CLASSIC)})
    write_run(root, "knn__b", "itemknn", {"direct": (ranking_metrics(0.30), CLASSIC)})
    write_run(root, "smol__c", "smollm2", {"direct": (ranking_metrics(0.50), {"n_samples": 20, "limit": 20}),
                                           "rating": ({"rmse": metric(1.40, 0.1)}, {})})
    return label_runs(load_runs([root]))


def test_summary_sets_only_comparable_cells_side_by_side(two_protocols):
    summary = summarise(Report(two_protocols))
    assert [c.title for c in summary.columns] == ["rating · movielens-100k · rmse ↓", "direct · movielens-100k · hr@10 ↑"]
    assert summary.labels == ["popularity", "smollm2", "itemknn"]
    direct = 1
    assert summary.cell("itemknn", direct).cell.best and summary.cell("itemknn", direct).mark == ""
    smol = summary.cell("smollm2", direct)  # 0.50 on 20 samples: higher, but another protocol
    assert smol.mark == "B" and not smol.comparable and smol.cell.value == 0.50
    assert summary.cell("itemknn", 0).cell is None
    md = render_report(two_protocols, "md")
    assert "| smollm2 | 1.4000 ± 0.1000 | 0.5000 ± 0.0250 [B] |" in md
    assert "| itemknn | — | **0.3000 ± 0.0250** |" in md
    page = render_report(two_protocols, "html")
    assert "0.5000<sup>B</sup>" in page


def _leaderboard_cells(runs: list[dict]) -> list[tuple]:
    cells = []
    for group in Report(runs).groups:
        for block in group.blocks:
            for position, row in enumerate(block.rows, start=1):
                for name in group.quality + group.validity:
                    if name in row.metrics:
                        cell = Cell(block, row, name)
                        ci = row.metrics[name]["ci"] or (None, None)
                        cells.append((row.run_id, row.label, group.task, name, cell.value, ci[0], ci[1],
                                      block.letter, position, cell.best, row.n))
    return cells


def test_csv_and_json_exports_equal_the_leaderboard_rows(two_protocols):
    cells = _leaderboard_cells(two_protocols)
    keys = ("run_id", "label", "task", "metric", "value", "ci_lo", "ci_hi", "protocol", "position", "best", "n")
    records = json.loads(render_report(two_protocols, "json"))
    assert [tuple(r[k] for k in keys) for r in records] == cells
    rows = list(csv.DictReader(io.StringIO(render_report(two_protocols, "csv"))))

    def typed(row: dict) -> tuple:
        number = lambda v: None if v == "" else float(v)  # noqa: E731
        return (row["run_id"], row["label"], row["task"], row["metric"], number(row["value"]), number(row["ci_lo"]),
                number(row["ci_hi"]), row["protocol"], int(row["position"]), row["best"] == "True", int(row["n"]))

    assert [typed(r) for r in rows] == cells
    smol = next(r for r in records if r["label"] == "smollm2" and r["metric"] == "hr@10")
    assert (smol["protocol"], smol["best"], smol["n"], smol["limit"] if "limit" in smol else None) == ("B", False, 20,
                                                                                                      None)
    assert "limit=20" in smol["settings"]
    knn = next(r for r in records if r["label"] == "itemknn" and r["metric"] == "hr@10")
    assert (knn["protocol"], knn["position"], knn["best"]) == ("A", 1, True)


def test_embedded_json_is_script_safe_and_has_no_nan():
    from llmrec.reporting.drilldown_page import embed

    text = embed({"raw": "</script><!-- & -->", "scores": {"bleu-4": float("nan"), "hr@1": 1.0}})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"raw": "</script><!-- & -->", "scores": {"bleu-4": None, "hr@1": 1.0}}
