"""`llmrec judge`: verdict parsing, judge metrics, records and resume, pairing, report and gate; a real SmolLM2
judging SmolLM2, a tiny random judge through the CLI, and kill -9 mid-judgment."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmrec.errors import LLMRecError
from llmrec.evaluation.runner import Bench, BenchConfig
from llmrec.judging import JudgeConfig, judge
from llmrec.judging.stats import pairwise_metrics, pairwise_outcome, pointwise_metrics
from llmrec.judging.templates import JUDGE_DIR, load_judge_template
from llmrec.judging.verdicts import parse_preference, parse_score
from llmrec.tasks import parse_task_list

from llama_server import fault_proxy, llama_server  # noqa: F401 - pytest fixtures
from tiny_model import build_tiny_llama

EXPLANATION_CRITERIA = ["informativeness", "persuasiveness", "relevance", "fluency"]


# ---------------------------------------------------------------- verdicts

@pytest.mark.parametrize("reply, score", [
    ("Score: 4", 4), ("score=2", 2), ("**Score:** 5", 5), ("Rating: 3/5", 3), ("I give it 4 out of 5.", 4),
    ("4/5", 4), ("5", 5), ("**3**", 3), ("4.", 4), ("Score: 4. Score: 4", 4),
    ("Score: 2 at first, but Score: 4", None),  # two different labelled scores say nothing
    ("Score: 7", None), ("Score: 3.5", None), ("0", None),
    ("The user's rating of 5 stars is a great example", None),  # a number echoed from the prompt is no score
    ("very good", None), ("", None), (None, None),
])
def test_scores_are_read_from_the_forms_judges_use_and_nothing_else(reply, score):
    assert parse_score(reply) == score


@pytest.mark.parametrize("reply, verdict", [
    ("Verdict: A", "A"), ("verdict: B", "B"), ("Verdict: tie", "tie"), ("Verdict: Tie.", "tie"),
    ("[[B]]", "B"), ("[[C]]", "tie"), ("A", "A"), ("b", "B"), ("Tie", "tie"), ("The winner is: Summary B", "B"),
    ("Answer: a good one, but unclear", None),  # the article "a" is no verdict
    ("Verdict: A ... on reflection Verdict: B", None), ("Both are fine", None), ("", None),
])
def test_preferences_are_read_or_refused(reply, verdict):
    assert parse_preference(reply) == verdict


# ---------------------------------------------------------------- metrics, against hand-computed values

def test_pointwise_means_skip_unread_verdicts_and_count_them():
    scores = [{"a": 4, "b": None}, {"a": 2, "b": 5}, {"a": None, "b": 3}]
    m = pointwise_metrics(scores, ["a", "b"], seed=0)
    assert m["a"]["value"] == pytest.approx(3.0)  # (4 + 2) / 2
    assert m["b"]["value"] == pytest.approx(4.0)  # (5 + 3) / 2
    assert m["parse_failure_rate"]["value"] == pytest.approx(2 / 6)
    for name in ("a", "b", "parse_failure_rate"):
        lo, hi = m[name]["ci"]
        assert lo <= m[name]["value"] <= hi
    assert pointwise_metrics([{"a": 3}] * 4, ["a"], seed=0)["a"] == {"value": 3.0, "ci": [3.0, 3.0]}


def test_pairwise_orders_that_disagree_are_a_tie_and_shares_add_up():
    assert pairwise_outcome("A", "A") == ("win", True)
    assert pairwise_outcome("B", "B") == ("loss", True)
    assert pairwise_outcome("tie", "tie") == ("tie", True)
    assert pairwise_outcome("A", "B") == ("tie", False)  # follows the position, not the text
    assert pairwise_outcome("A", None) == (None, None)
    outcomes = [pairwise_outcome(*v) for v in (("A", "A"), ("A", "A"), ("B", "B"), ("A", "B"), ("tie", "tie"),
                                                (None, "A"))]
    m = pairwise_metrics(outcomes, seed=0)
    assert m["win"]["value"] == pytest.approx(2 / 6)
    assert m["loss"]["value"] == pytest.approx(1 / 6)
    assert m["tie"]["value"] == pytest.approx(2 / 6)
    assert m["parse_failure_rate"]["value"] == pytest.approx(1 / 6)
    assert m["swap_consistency"]["value"] == pytest.approx(4 / 5)  # of the 5 read in both orders
    assert sum(m[k]["value"] for k in ("win", "tie", "loss", "parse_failure_rate")) == pytest.approx(1)


# ---------------------------------------------------------------- templates

def test_shipped_templates_name_the_issue_criteria_and_are_hashed_by_content():
    expected = {"explanation": EXPLANATION_CRITERIA, "review": ["faithfulness", "conciseness", "fluency"]}
    for task, criteria in expected.items():
        for mode in ("pointwise", "pairwise"):
            t = load_judge_template(task, mode)
            assert list(t.criteria) == criteria
            assert t.sha256 == hashlib.sha256((JUDGE_DIR / f"{task}-{mode}.yaml").read_bytes()).hexdigest()


def test_bad_judge_templates_are_refused_in_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("prompt: 'Grade {{ output'\ncriteria: {fluency: reads well}\n")
    with pytest.raises(LLMRecError, match="not a valid Jinja2 template"):
        load_judge_template("explanation", "pointwise", str(bad))
    bad.write_text("prompt: hi\n")
    with pytest.raises(LLMRecError, match="criteria"):
        load_judge_template("explanation", "pointwise", str(bad))
    with pytest.raises(LLMRecError, match="no judge template"):
        load_judge_template("rating", "pointwise")


# ---------------------------------------------------------------- the stage, with a scripted judge

class ScriptedJudge:
    """Answers judge prompts by rule and counts what it is asked. Pointwise: fluency scores the output's
    length, informativeness is written "N/5", relevance is never readable; pairwise: prefers the longer output
    (consistent under the swap) or, `biased`, always the first one shown."""

    name = "openai"
    context_length = None

    def __init__(self, biased: bool = False):
        self.biased = biased
        self.prompts: list[str] = []

    def generate(self, requests):
        self.prompts += [r.prompt for r in requests]
        return [[self.reply(r.prompt)] for r in requests]

    @staticmethod
    def output(prompt: str, label: str) -> str:
        return re.search(rf'^{label}: "(.*)"$', prompt, re.MULTILINE).group(1)

    def reply(self, prompt: str) -> str:
        if "Explanation A:" in prompt:
            if self.biased:
                return "Verdict: A"
            a, b = self.output(prompt, "Explanation A"), self.output(prompt, "Explanation B")
            return "Verdict: tie" if len(a) == len(b) else f"Verdict: {'A' if len(a) > len(b) else 'B'}"
        criterion = re.search(r"^Criterion, (\w+):", prompt, re.MULTILINE).group(1)
        return {"fluency": f"Score: {expected_fluency(self.output(prompt, 'Explanation to grade'))}",
                "informativeness": "4/5", "persuasiveness": "**5**", "relevance": "it is relevant"}[criterion]

    def prompt_tokens(self, prompt, chat=True):
        return None

    def info(self):
        return {"backend": "scripted", "weight_hash": None}


def expected_fluency(output: str) -> int:
    return 1 + len(output) % 5


def scripted_config(runs, **kw) -> JudgeConfig:
    return JudgeConfig(judge_model="scripted-judge", runs=list(runs), backend="openai", base_url="http://judge.invalid",
                       **kw)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from llmrec.backends.models import smollm2_folder

    folder, _ = smollm2_folder()
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "llama", folder)


def bench(output: Path, prepared_cache, model, tasks="explanation", **kw) -> Path:
    runner = Bench(BenchConfig(model=str(model), tasks=parse_task_list(tasks), output=output, data_dir=prepared_cache,
                               **kw))
    runner.run()
    return runner.folder


@pytest.fixture(scope="module")
def text_runs(tmp_path_factory, prepared_cache, tiny_dir):
    """lead and the tiny llama on the same 6 explanation samples, and lead on 5 (another sample set)."""
    out = tmp_path_factory.mktemp("runs")
    return {"lead": bench(out / "a", prepared_cache, "lead", limit=6),
            "tiny": bench(out / "b", prepared_cache, tiny_dir, limit=6, max_new_tokens=8),
            "lead5": bench(out / "c", prepared_cache, "lead", limit=5),
            "rating": bench(out / "d", prepared_cache, "popularity", tasks="rating", limit=5)}


def records(folder: Path) -> list[dict]:
    return [json.loads(x) for x in (folder / "samples.jsonl").read_text().splitlines()]


def test_pointwise_scores_each_criterion_records_each_verdict_and_resumes(text_runs, prepared_cache):
    scripted = ScriptedJudge()
    config = scripted_config([text_runs["lead"]], data_dir=prepared_cache)
    ((judgment, result),) = judge(config, load=lambda c: scripted)
    assert judgment.folder.parent == text_runs["lead"] / "judgments"
    assert len(scripted.prompts) == 6 * 4 and result["requests"] == 24
    outputs = {r["sample_id"]: r["prediction"]["value"] for r in records(text_runs["lead"])}
    judged = records(judgment.folder)
    assert sorted(r["sample_id"] for r in judged) == sorted(outputs)
    for r in judged:  # every verdict kept: what was asked, what came back, what was read
        assert set(r["verdicts"]) == set(EXPLANATION_CRITERIA)
        assert outputs[r["sample_id"]] in r["verdicts"]["fluency"]["prompt"]
        assert r["scores"] == {"informativeness": 4, "persuasiveness": 5, "relevance": None,
                               "fluency": expected_fluency(outputs[r["sample_id"]])}
    entry = result["tasks"]["explanation"]
    fluency = sum(expected_fluency(o) for o in outputs.values()) / 6
    assert entry["metrics"]["fluency"]["value"] == pytest.approx(fluency)
    assert entry["metrics"]["informativeness"]["value"] == 4.0
    assert entry["metrics"]["parse_failure_rate"]["value"] == pytest.approx(6 / 24)
    assert entry["counts"]["parse_failed_by_criterion"]["relevance"] == 6
    # the judge saw the inputs the model saw (item, rating) and the reference
    first = judged[0]["verdicts"]["fluency"]["prompt"]
    reference = next(r["reference"] for r in records(text_runs["lead"]) if r["sample_id"] == judged[0]["sample_id"])
    assert "stars" in first and "Product:" in first and reference.replace('"', "'") in first

    from llmrec.humaneval.judged import judge_scores  # what judge-vs-human agreement reads

    read = judge_scores(text_runs["lead"], "explanation")["scripted-judge"]
    assert read == {r["sample_id"]: {c: float(v) for c, v in r["scores"].items() if v is not None} for r in judged}

    again = ScriptedJudge()
    ((_, resumed),) = judge(config, load=lambda c: again)
    assert again.prompts == [] and resumed["invocations"][-1]["requests"] == 0
    assert json.dumps(resumed["tasks"]) == json.dumps(result["tasks"])  # (relevance is NaN: never read)


def test_a_changed_judge_template_or_judge_starts_another_judgment(text_runs, prepared_cache, tmp_path):
    run = text_runs["lead5"]
    ((first, _),) = judge(scripted_config([run], data_dir=prepared_cache), load=lambda c: ScriptedJudge())
    edited = tmp_path / "mine.yaml"
    edited.write_text(load_judge_template("explanation", "pointwise").path.read_text() + "\n# edited\n")
    ((other, _),) = judge(scripted_config([run], data_dir=prepared_cache, template=str(edited)),
                          load=lambda c: ScriptedJudge())
    ((third, _),) = judge(scripted_config([run], data_dir=prepared_cache, max_new_tokens=4),
                          load=lambda c: ScriptedJudge())
    assert len({first.folder, other.folder, third.folder}) == 3
    assert other.identity["tasks"]["explanation"]["template_hash"] != first.identity["tasks"]["explanation"]["template_hash"]
    # one judge name, three judgments: each keeps its own columns, told apart by its folder's hash
    from llmrec.reporting.report import load_run

    names = [m for m in load_run(run)["tasks"]["explanation"]["metrics"] if m.endswith(": fluency")]
    assert sorted(names) == sorted(f"judge scripted-judge#{j.folder.name.rsplit('__', 1)[1][:6]}: fluency"
                                   for j in (first, other, third))


def test_pairwise_asks_both_orders_and_a_position_bias_is_no_preference(text_runs, prepared_cache):
    runs = [text_runs["lead"], text_runs["tiny"]]
    fair = ScriptedJudge()
    ((judgment, result),) = judge(scripted_config(runs, mode="pairwise", data_dir=prepared_cache),
                                  load=lambda c: fair)
    assert len(fair.prompts) == 12  # 6 samples x 2 orders
    a_out = {r["sample_id"]: r["prediction"]["value"] or "" for r in records(runs[0])}
    b_out = {r["sample_id"]: r["prediction"]["value"] or "" for r in records(runs[1])}
    wins = sum(len(a_out[i]) > len(b_out[i]) for i in a_out)
    losses = sum(len(a_out[i]) < len(b_out[i]) for i in a_out)
    m = result["tasks"]["explanation"]["metrics"]
    assert m["win"]["value"] == pytest.approx(wins / 6) and m["loss"]["value"] == pytest.approx(losses / 6)
    assert m["swap_consistency"]["value"] == 1.0
    for r in records(judgment.folder):
        assert r["orders"]["ab"]["preferred"] == r["orders"]["ba"]["preferred"]
        assert r["orders"]["ab"]["verdict"] != r["orders"]["ba"]["verdict"] or r["outcome"] == "tie"

    biased = ScriptedJudge(biased=True)
    ((_, result),) = judge(scripted_config(runs, mode="pairwise", data_dir=prepared_cache, max_new_tokens=3),
                           load=lambda c: biased)
    m = result["tasks"]["explanation"]["metrics"]
    assert m["tie"]["value"] == 1.0 and m["swap_consistency"]["value"] == 0.0 and m["win"]["value"] == 0.0


def test_pairwise_refuses_runs_on_other_samples_and_other_inputs(text_runs, prepared_cache):
    def pairwise(*names):
        return judge(scripted_config([text_runs[n] for n in names], mode="pairwise", data_dir=prepared_cache),
                     load=lambda c: pytest.fail("nothing may be asked"))

    with pytest.raises(LLMRecError, match=r"not pairable(.|\n)*n_samples: A 6, B 5"):
        pairwise("lead", "lead5")
    with pytest.raises(LLMRecError, match="same run"):
        pairwise("lead", "lead")
    with pytest.raises(LLMRecError, match="expected two runs"):
        pairwise("lead")
    with pytest.raises(LLMRecError, match="no task to judge"):
        judge(scripted_config([text_runs["rating"]], data_dir=prepared_cache), load=lambda c: pytest.fail())
    with pytest.raises(LLMRecError, match="classic recommender writes no verdicts"):
        judge(JudgeConfig(judge_model="popularity", runs=[text_runs["lead"]]), load=lambda c: pytest.fail())
    with pytest.raises(LLMRecError, match="has no review"):
        judge(scripted_config([text_runs["lead"]], tasks=["review"], data_dir=prepared_cache),
              load=lambda c: pytest.fail())


def test_judge_metrics_show_in_the_report_and_are_gated(text_runs, prepared_cache, tmp_path):
    from llmrec.reporting.check import check, parse_tolerances
    from llmrec.reporting.report import load_runs, render_report

    runs = [bench(tmp_path / "runs", prepared_cache, "lead", limit=6), text_runs["tiny"]]
    judge(scripted_config(runs[:1], data_dir=prepared_cache), load=lambda c: ScriptedJudge())
    judge(scripted_config(runs, mode="pairwise", data_dir=prepared_cache), load=lambda c: ScriptedJudge())
    md = render_report(load_runs(runs), "md")
    assert "judge scripted-judge: fluency ↑" in md and "judge scripted-judge: parse failure ↓" in md
    assert "## Judge preferences" in md and "| explanation | lead | llama | scripted-judge | 6 |" in md
    html = render_report(load_runs(runs), "html")
    assert "<h2>Judge preferences</h2>" in html and "judge scripted-judge: informativeness" in html
    assert "p5-rouge-l per model" in html and "judge scripted-judge: fluency, " in html  # a plot per scale
    from llmrec.reporting.drilldown import run_samples  # the drill-down shows each sample's judge scores

    (lead,) = [r for r in load_runs(runs) if r["model"] == "lead"]
    for record in run_samples(lead)["explanation"]:
        assert record["judge"] == {"judge scripted-judge: informativeness": 4, "judge scripted-judge: persuasiveness": 5,
                                   "judge scripted-judge: relevance": None,
                                   "judge scripted-judge: fluency": expected_fluency(record["prediction"]["value"])}

    baseline = tmp_path / "baseline.json"
    assert check(baseline, runs[0], update=True) == 0
    gated = json.loads(baseline.read_text())["tasks"]["explanation"]["metrics"]
    assert "judge scripted-judge: fluency" in gated and f"judge scripted-judge: win vs {runs[1].name}" in gated
    assert check(baseline, runs[0]) == 0
    better = json.loads(baseline.read_text())
    better["tasks"]["explanation"]["metrics"]["judge scripted-judge: informativeness"] = {"value": 4.5, "ci": None}
    baseline.write_text(json.dumps(better))
    assert check(baseline, runs[0]) == 1  # 4.0 now: a regression of the judge's score
    assert check(baseline, runs[0], parse_tolerances("judge scripted-judge: informativeness=0.6")) == 0


# ---------------------------------------------------------------- real models through the CLI

def cli(*args, data_root, timeout=900):
    env = {**os.environ, "LLMREC_DATA_DIR": str(data_root)}
    return subprocess.run([sys.executable, "-m", "llmrec", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def only(folder: Path) -> Path:
    (found,) = [p for p in folder.iterdir() if p.is_dir()]
    return found


def judgment_of(run: Path) -> Path:
    return only(run / "judgments")


def test_bad_options_are_one_line_and_exit_2(text_runs, data_root):
    done = cli("judge", text_runs["lead"], "--judge-model", "smollm2", "--mode", "sideways", data_root=data_root)
    assert done.returncode == 2 and done.stderr.strip() == "error: --mode: expected pointwise or pairwise, got 'sideways'"


def test_smollm2_judges_a_smollm2_explanation_run_locally_and_behind_a_server(tmp_path, data_root, fault_proxy,
                                                                             tiny_dir):
    done = cli("bench", "--model", "smollm2", "--task", "explanation", "--limit", "2", "--max-new-tokens", "12",
               "--output", tmp_path / "runs", data_root=data_root)
    assert done.returncode == 0, done.stderr
    run = only(tmp_path / "runs")
    done = cli("judge", run, "--judge-model", "smollm2", "--max-new-tokens", "8", data_root=data_root)
    assert done.returncode == 0, done.stderr
    assert "informativeness" in done.stdout and "judgment:" in done.stderr
    (local,) = (run / "judgments").iterdir()
    result = json.loads((local / "judgment.json").read_text())
    judged = records(local)
    assert len(judged) == 2 and result["requests"] == 8
    assert all(v["reply"] for r in judged for v in r["verdicts"].values())  # kept, read or not
    unread = sum(s is None for r in judged for s in r["scores"].values())
    assert result["tasks"]["explanation"]["counts"]["parse_failed"] == unread  # SmolLM2-135M rarely says "Score: N"
    assert result["judge_info"]["weight_hash"] and result["identity"]["judge"]["weights"]["weight_hash"]

    served = JudgeConfig(judge_model="smollm2", runs=[run], base_url=fault_proxy.base_url, max_new_tokens=8,
                         data_dir=data_root / "prepared")
    ((judgment, _),) = judge(served)
    asked = [s for s in fault_proxy.seen if s.path.endswith("/chat/completions")]
    assert len(asked) == 8 and all(s.status == 200 for s in asked)
    assert judgment.folder != local and judgment.identity["judge"]["weights"]["api_model"] == "smollm2"
    judge(served)  # everything recorded: the server is asked nothing
    assert len([s for s in fault_proxy.seen if s.path.endswith("/chat/completions")]) == 8

    ((tiny, result),) = judge(JudgeConfig(judge_model=str(tiny_dir), runs=[run], max_new_tokens=4,
                                          data_dir=data_root / "prepared"))
    assert result["requests"] == 8 and len(records(tiny.folder)) == 2
    assert len(list((run / "judgments").iterdir())) == 3


def test_a_tiny_random_judge_through_the_cli_and_kill_9_resumes_without_asking_again(tmp_path, tiny_dir, data_root):
    done = cli("bench", "--model", tiny_dir, "--task", "explanation", "--limit", "24", "--max-new-tokens", "6",
               "--output", tmp_path / "runs", data_root=data_root)
    assert done.returncode == 0, done.stderr
    run = only(tmp_path / "runs")
    judge_cmd = [sys.executable, "-m", "llmrec", "judge", str(run), "--judge-model", str(tiny_dir),
                 "--max-new-tokens", "4", "--batch-size", "4"]
    env = {**os.environ, "LLMREC_DATA_DIR": str(data_root)}
    proc = subprocess.Popen(judge_cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    log, deadline = None, time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        found = list(run.glob("judgments/*/samples.jsonl"))
        if found and len(found[0].read_bytes().splitlines()) >= 8:
            log = found[0]
            break
        time.sleep(0.05)
    assert log is not None, "the judgment ended before it could be killed midway"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = log.read_bytes()
    before = before[: before.rfind(b"\n") + 1]  # a line the kill cut short is not a record
    recorded = before.count(b"\n")
    assert 8 <= recorded < 24 and not (log.parent / "judgment.json").exists()

    resumed = subprocess.run(judge_cmd, env=env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{recorded} samples already judged" in resumed.stderr
    result = json.loads((log.parent / "judgment.json").read_text())
    (invocation,) = result["invocations"]
    assert invocation["requests"] == (24 - recorded) * 4 and invocation["samples_judged"] == 24 - recorded
    after = log.read_bytes()
    assert after.startswith(before)  # what was recorded stays as it was
    ids = [r["sample_id"] for r in records(log.parent)]
    assert len(ids) == len(set(ids)) == 24
    counts = result["tasks"]["explanation"]["counts"]
    assert counts["verdicts"] == 96 and counts["parse_failed"] == sum(
        s is None for r in records(log.parent) for s in r["scores"].values())
