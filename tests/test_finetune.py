"""LoRA finetuning: examples from the training split only, response-only labels, cutoff counting,
resume, the adapter manifest, and the checks that refuse bad options or a mismatched base model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from llmrec.errors import LLMRecError
from llmrec.finetune import (IGNORE_INDEX, MANIFEST, FinetuneConfig, bench_command, build_examples, check_options,
                             encode_example, encode_examples, examples_seen, finetune, load_sft_template, loss_line,
                             loss_summary, mean_window, training_samples, SFTExample)
from llmrec.tasks import TASKS, SampleOptions, parse_task_list

sys.path.insert(0, str(Path(__file__).parent))
from tiny_model import build_tiny_llama  # noqa: E402
from test_cli import fake_bench, one_line_error, run_cli  # noqa: E402,F401 - fake_bench is a fixture

RATING_PROMPT = ("### Instruction:\nWhat star rating do you think user_7 will give item_42? "
                 "(1 being lowest and 5 being highest)\n\n### Response:\n")
# SmolLM2's tokenizer on RATING_PROMPT (36 tokens, no BOS for this tokenizer), "4" and <|im_end|>.
RATING_PROMPT_IDS = [3757, 20880, 42, 198, 1780, 4870, 14404, 536, 346, 1510, 2914, 79, 39, 523, 1928, 5033, 79,
                     36, 34, 47, 365, 33, 1036, 9906, 284, 216, 37, 1036, 4919, 25, 198, 198, 3757, 14212, 42, 198]
FOUR, EOS = 36, 2


@pytest.fixture(scope="module")
def movielens(prepared_cache):
    from llmrec.data import prepare_dataset

    return prepare_dataset("movielens-100k", cache_dir=prepared_cache)


@pytest.fixture(scope="module")
def smollm2_dir():
    from llmrec.backends.models import smollm2_folder

    return smollm2_folder()[0]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, smollm2_dir):
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "model", smollm2_dir, seed=0)


@pytest.fixture(scope="module")
def tokenizer(tiny):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny)


def config(tiny, out: Path, prepared_cache, **overrides) -> FinetuneConfig:
    base = FinetuneConfig(model=str(tiny), tasks=tuple(parse_task_list("rating")), output=out, limit=12,
                          max_steps=4, batch_size=2, grad_accum=1, val_size=4, eval_steps=2, save_steps=2,
                          save_total_limit=5, data_dir=prepared_cache)
    return replace(base, **overrides)


# ---- examples ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["rating", "sequential", "direct"])
def test_training_samples_are_training_rows(movielens, task):
    t = TASKS[task]
    samples = training_samples(t, movielens, 60, 2023)
    assert len(samples) >= 60
    frame = movielens.ratings if task == "rating" else movielens.interactions
    held_out = set(zip(frame.loc[frame["split"] != "train", "user"], frame.loc[frame["split"] != "train", "item"]))
    for s in samples:
        assert (s.user, s.item) not in held_out
        if task != "rating":
            assert not {(s.user, i) for i in s.variables["seen"]} & held_out
    t.check_train_only(movielens, samples)  # the guard agrees


@pytest.mark.parametrize("task", ["rating", "sequential"])
def test_guard_refuses_samples_from_held_out_splits(movielens, task):
    test_samples = TASKS[task].build(movielens, SampleOptions(split="test", limit=3))
    assert test_samples
    with pytest.raises(LLMRecError, match="not a training row"):
        TASKS[task].check_train_only(movielens, test_samples)


def test_validation_is_a_disjoint_seeded_slice(movielens):
    tasks = parse_task_list("rating,sequential")
    templates = {t.name: load_sft_template(t.name, "p5-sft") for t in tasks}
    prepared = {t.name: movielens for t in tasks}
    train, val = build_examples(tasks, prepared, templates, limit=10, val_size=6, seed=2023)
    assert len(val) == 6
    assert sum(e.task == "rating" for e in train) == 10 and sum(e.task == "sequential" for e in train) == 10
    assert not {(e.task, e.sample_id) for e in train} & {(e.task, e.sample_id) for e in val}
    again = build_examples(tasks, prepared, templates, limit=10, val_size=6, seed=2023)
    assert (train, val) == again
    rating = next(e for e in train if e.task == "rating")
    assert rating.prompt.startswith("### Instruction:\nWhat star rating") and rating.response in "12345"
    other = build_examples(tasks, prepared, templates, limit=10, val_size=6, seed=7)
    assert other[1] != val
    with pytest.raises(LLMRecError, match="--val-size"):
        build_examples(parse_task_list("rating"), {"rating": movielens}, templates,
                       limit=None, val_size=10**6, seed=1)


# ---- tokenisation -----------------------------------------------------------------------------------


def test_prompt_tokens_are_masked_in_labels(tokenizer):
    row, status = encode_example(tokenizer, RATING_PROMPT, "4", cutoff_len=512)
    assert status == "ok"
    assert row["input_ids"] == RATING_PROMPT_IDS + [FOUR, EOS]
    assert row["labels"] == [IGNORE_INDEX] * 36 + [FOUR, EOS]
    assert row["attention_mask"] == [1] * 38

    from transformers import DataCollatorForSeq2Seq

    short, _ = encode_example(tokenizer, "### Instruction:\nhi\n\n### Response:\n", "5", cutoff_len=512)
    batch = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX)([row, short])
    n = len(short["input_ids"])
    assert batch["labels"][1].tolist() == short["labels"] + [IGNORE_INDEX] * (38 - n)  # padding never learned
    assert batch["attention_mask"][1].tolist() == [1] * n + [0] * (38 - n)


def test_cutoff_cuts_and_drops_and_counts(tokenizer):
    row, status = encode_example(tokenizer, RATING_PROMPT, "4", cutoff_len=37)
    assert status == "cut" and row["labels"] == [IGNORE_INDEX] * 36 + [FOUR]  # eos cut, answer kept
    assert encode_example(tokenizer, RATING_PROMPT, "4", cutoff_len=36) == (None, "dropped")
    assert encode_example(tokenizer, RATING_PROMPT, "4", cutoff_len=38)[1] == "ok"
    examples = [SFTExample("rating", "a", RATING_PROMPT, "4"), SFTExample("rating", "b", "short\n", "4"),
                SFTExample("rating", "c", RATING_PROMPT, "4 stars")]
    rows, counts = encode_examples(tokenizer, examples, 37, {"rating": False})
    assert counts == {"ok": 1, "cut": 2, "dropped": 0} and len(rows) == 3
    rows, counts = encode_examples(tokenizer, examples, 30, {"rating": False})
    assert counts == {"ok": 1, "cut": 0, "dropped": 2} and len(rows) == 1


# ---- options ----------------------------------------------------------------------------------------


def test_bad_options_are_one_line_errors(tmp_path, tiny, prepared_cache):
    with pytest.raises(LLMRecError, match="--epochs and --max-steps"):
        check_options(config(tiny, tmp_path / "a", prepared_cache, epochs=1.0, max_steps=3))
    no_answer = tmp_path / "plain.yaml"
    no_answer.write_text("task_description: 'x'\nbehaviour: ''\nformat_indicator: ''\n"
                         "prompt: '{{ task_description }}'\n")
    with pytest.raises(LLMRecError, match="'answer'"):
        load_sft_template("rating", str(no_answer))


def test_unknown_target_module_fails_before_training(tmp_path, tiny, prepared_cache):
    out = tmp_path / "adapter"
    with pytest.raises(LLMRecError, match=r"nope not found .*k_proj.*q_proj.*v_proj"):
        finetune(config(tiny, out, prepared_cache, target_modules=("q_proj", "nope")))
    assert not list(out.glob("checkpoint-*")) and not (out / MANIFEST).exists()


# ---- a real run on the tiny model ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny, prepared_cache):
    out = tmp_path_factory.mktemp("runs") / "adapter"
    folder, manifest = finetune(config(tiny, out, prepared_cache))
    return folder, manifest


def test_manifest_describes_the_adapter(trained, tiny):
    from llmrec.backends.models import adapter_sha256, weights_sha256

    folder, manifest = trained
    assert json.loads((folder / MANIFEST).read_text()) == json.loads(json.dumps(manifest, default=str))
    assert manifest["adapter_sha256"] == adapter_sha256(folder) is not None
    base = manifest["base_model"]
    assert base["weight_hash"] == weights_sha256(Path(tiny)) and base["kind"] == "folder"
    adapter_config = json.loads((folder / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(Path(tiny).resolve())
    assert manifest["tasks"] == ["rating"]
    assert manifest["template"]["name"] == "p5-sft"
    assert manifest["template"]["sha256"]["rating"] == load_sft_template("rating", "p5-sft").sha256
    assert manifest["datasets"]["rating"]["name"] == "movielens-100k"
    assert len(manifest["datasets"]["rating"]["fingerprint"]) >= 12
    assert {k: manifest["datasets"]["rating"][k] for k in ("seed", "kcore", "splits")} == \
           {"seed": 2023, "kcore": 5, "splits": "llmrec"}
    hp = manifest["hyperparameters"]
    assert (hp["lora_r"], hp["lora_alpha"], hp["lora_dropout"], hp["target_modules"], hp["lr"]) == \
           (8, 16, 0.05, ["q_proj", "v_proj"], 3e-4)
    assert manifest["seed"] == 2023
    assert {"torch", "transformers", "peft"} <= set(manifest["library_versions"])
    counts = manifest["counts"]
    assert (counts["train_examples"], counts["validation_examples"], counts["cut"], counts["dropped"]) == (12, 4, 0, 0)
    losses = manifest["losses"]
    assert [e["step"] for e in losses["train"]] == [1, 2, 3, 4]
    assert [e["step"] for e in losses["eval"]] == [2, 4]
    assert losses["mean_window"] == 2  # 4 steps: the first two against the last two, no overlap
    assert losses["first_mean"] == pytest.approx(sum(e["loss"] for e in losses["train"][:2]) / 2)
    assert losses["last_mean"] == pytest.approx(sum(e["loss"] for e in losses["train"][2:]) / 2)
    training = manifest["training"]
    assert training["global_step"] == 4 and manifest["wall_time_s"] > 0
    assert (training["steps_per_epoch"], training["examples_seen"]) == (6, 8)  # 12 examples, 2 per step


def test_resume_continues_from_the_last_checkpoint(trained, tmp_path, tiny, prepared_cache):
    folder, manifest = trained
    # A run interrupted after step 2: only checkpoint-2 exists.
    crashed = tmp_path / "adapter"
    crashed.mkdir()
    shutil.copytree(folder / "checkpoint-2", crashed / "checkpoint-2")
    shutil.copy(folder / "llmrec-finetune-settings.json", crashed)
    with pytest.raises(LLMRecError, match="--resume"):
        finetune(config(tiny, crashed, prepared_cache))
    with pytest.raises(LLMRecError, match="other settings"):
        finetune(config(tiny, crashed, prepared_cache, lr=1e-3, resume=True))
    _, resumed = finetune(config(tiny, crashed, prepared_cache, resume=True))
    assert resumed["training"]["resumed_from"].endswith("checkpoint-2")
    assert resumed["training"]["global_step"] == 4
    steps = resumed["losses"]["train"]
    assert [e["step"] for e in steps] == [1, 2, 3, 4]
    # The resumed steps repeat the uninterrupted run (same data order, optimizer and RNG state).
    assert [e["loss"] for e in steps] == pytest.approx([e["loss"] for e in manifest["losses"]["train"]], rel=1e-4)


def test_adapter_loads_on_its_base_and_is_refused_on_another(trained, tmp_path, tiny, smollm2_dir):
    from llmrec.backends import load_backend
    from llmrec.backends.models import resolve_model

    folder, manifest = trained
    backend = load_backend(str(tiny), backend="hf", adapter=str(folder), device="cpu")
    assert backend.info()["adapter_sha256"] == manifest["adapter_sha256"]
    other = build_tiny_llama(tmp_path / "other", smollm2_dir, seed=1)
    with pytest.raises(LLMRecError, match="adapter was trained on"):
        resolve_model(str(other), adapter=folder)


def test_cli_exit_code_2_on_unknown_target_module(tmp_path, tiny, prepared_cache):
    env = {**os.environ, "LLMREC_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, "-m", "llmrec", "finetune", "--model", str(tiny), "--task", "rating", "--limit", "4",
         "--val-size", "2", "--max-steps", "1", "--target-modules", "q_proj,nope", "--output", str(tmp_path / "o")],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --target-modules: nope not found") and "Traceback" not in result.stderr


def _file_states(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns)
            for p in (folder / MANIFEST, folder / "adapter_config.json", folder / "adapter_model.safetensors")}


def test_resume_of_a_finished_run_does_nothing(trained, tmp_path, tiny, prepared_cache, capsys, monkeypatch):
    folder, manifest = trained
    done = tmp_path / "done"
    shutil.copytree(folder, done)  # copy2: bytes and mtimes as they were
    before = _file_states(done)
    import transformers

    monkeypatch.setattr(transformers, "Trainer", lambda *a, **k: pytest.fail("a finished run was trained again"))
    same_folder, same_manifest = finetune(config(tiny, done, prepared_cache, resume=True))
    assert same_folder == done and same_manifest == json.loads((done / MANIFEST).read_text())
    assert "nothing to do" in capsys.readouterr().err
    with pytest.raises(LLMRecError, match="other settings"):
        finetune(config(tiny, done, prepared_cache, max_steps=8, resume=True))  # more steps: not this run

    code, out, err = run_cli(capsys, monkeypatch, "finetune", "--model", tiny, "--task", "rating", "--limit", 12,
                             "--max-steps", 4, "--batch-size", 2, "--grad-accum", 1, "--val-size", 4,
                             "--eval-steps", 2, "--save-steps", 2, "--save-total-limit", 5, "--output", done,
                             "--resume")
    assert code == 0, err
    assert "nothing to do" in err and out.strip().splitlines()[-1] == str(done)
    assert not (done / "config.yaml").exists()  # the finished folder is left as it was
    assert _file_states(done) == before


@pytest.mark.parametrize("n, window", [(0, 0), (1, 1), (2, 1), (3, 1), (4, 2), (19, 9), (20, 10), (57, 10)])
def test_loss_means_never_overlap(n, window):
    assert mean_window(n) == window
    history = [{"step": k + 1, "loss": float(k)} for k in range(n)]
    losses = loss_summary(history)
    if n:
        assert losses["train"][:window][-1]["step"] <= losses["train"][n - window:][0]["step"] - (n > 1)
        assert losses["first_mean"] == sum(range(window)) / window
        assert losses["last_mean"] == sum(range(n - window, n)) / window


def test_loss_line_fits_the_run_length():
    def line(losses):
        return loss_line(loss_summary([{"step": k + 1, "loss": v} for k, v in enumerate(losses)]))

    assert line([]) == "no training loss logged"
    assert line([2.5]) == "loss 2.5000 (one step)"
    assert line([3.0, 2.0, 1.0]) == "loss step 1 3.0000 -> step 3 1.0000"
    assert line([4.0, 2.0, 2.0, 1.0]) == "loss first-2 mean 3.0000 -> last-2 mean 1.5000"
    assert line([1.0] * 10 + [0.5] * 15) == "loss first-10 mean 1.0000 -> last-10 mean 0.5000"


def _trainer_batches(n: int, batch: int, accum: int, steps: int) -> int:
    """Examples in `steps` optimizer steps, batched the way the Trainer does it (written out step by step)."""
    seen, step = 0, 0
    while True:
        micro = [min(batch, n - start) for start in range(0, n, batch)]  # one epoch, last one short
        for first in range(0, len(micro), accum):
            if step == steps:
                return seen
            seen += sum(micro[first:first + accum])
            step += 1


@pytest.mark.parametrize("n, batch, accum", [(12, 2, 4), (12, 2, 1), (7, 2, 3), (5, 8, 2), (64, 2, 16), (33, 2, 16)])
def test_examples_seen_counts_short_last_steps(n, batch, accum):
    for steps in range(1, 12):
        assert examples_seen(n, steps, batch, accum)[0] == _trainer_batches(n, batch, accum, steps)


def test_manifest_counts_the_examples_the_steps_saw(tmp_path, tiny, prepared_cache, capsys, monkeypatch):
    """12 examples, micro-batch 2, 4 per step: each epoch is a step of 8 and a short step of 4."""
    import transformers

    collated = []

    class Counting(transformers.DataCollatorForSeq2Seq):
        def __call__(self, features, *args, **kwargs):
            collated.append(len(features))
            return super().__call__(features, *args, **kwargs)

    monkeypatch.setattr(transformers, "DataCollatorForSeq2Seq", Counting)
    folder, manifest = finetune(config(tiny, tmp_path / "a", prepared_cache, val_size=0, max_steps=None, epochs=2.0,
                                       grad_accum=4, save_steps=10))
    training = manifest["training"]
    assert (training["global_step"], training["steps_per_epoch"]) == (4, 2)
    assert training["examples_seen"] == sum(collated) == 24  # not 4 steps x 8
    assert manifest["hyperparameters"]["effective_batch_size"] == 8
    err = capsys.readouterr().err
    assert "4 steps over 24 examples, loss first-2 mean" in err
    command = next(line for line in err.splitlines() if line.startswith("evaluate it: "))
    assert command.removeprefix("evaluate it: ") == bench_command(config(tiny, folder, prepared_cache), folder)


def test_bench_command_evaluates_the_adapter(trained, tiny, prepared_cache, capsys, monkeypatch, fake_bench):
    import shlex

    folder, _ = trained
    plain = bench_command(config(tiny, folder, prepared_cache), folder)
    assert plain == f"llmrec bench --model {shlex.quote(str(tiny))} --adapter {shlex.quote(str(folder))} " \
                    "--template p5-sft --task rating"
    other = config(tiny, folder, prepared_cache, tasks=tuple(parse_task_list("rating,sequential")),
                   dataset="movielens-100k", candidates=20)
    words = shlex.split(bench_command(other, folder))
    assert words[:2] == ["llmrec", "bench"]
    code, _, err = run_cli(capsys, monkeypatch, *words[1:])
    assert code == 0, err
    [bench] = fake_bench
    assert (bench.model, bench.adapter, bench.template, bench.dataset, bench.candidates) == \
           (str(tiny), str(folder), "p5-sft", "movielens-100k", 20)
    assert [t.name for t in bench.tasks] == ["rating", "sequential"]
    amazon = config(tiny, folder, prepared_cache, dataset="amazon:/data/Beauty.jsonl.gz", seed=7, kcore=10,
                    splits="amazon-timestamp")
    assert shlex.split(bench_command(amazon, folder))[-8:] == \
           ["--dataset", "amazon:/data/Beauty.jsonl.gz", "--seed", "7", "--kcore", "10", "--splits", "amazon-timestamp"]
    # the default protocol stays out of the settings, so adapters trained before it was an option keep their hash
    assert {"kcore", "splits"} <= set(amazon.settings()) and not {"kcore", "splits"} & set(other.settings())


def test_bench_refuses_the_adapter_on_data_split_otherwise(trained, tiny, capsys, monkeypatch, fake_bench):
    # the adapter trained on movielens-100k's rating split of seed 2023: another seed's test rows are its training
    # rows; another dataset shares none
    folder, _ = trained
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", str(tiny), "--adapter", str(folder),
                           "--task", "rating", "--seed", "7")
    line = one_line_error(code, err)
    assert f"{folder / MANIFEST}: the adapter was trained on movielens-100k split with --seed 2023, this run " \
           "asks --seed 7" in line
    code, _, err = run_cli(capsys, monkeypatch, "bench", "--model", str(tiny), "--adapter", str(folder),
                           "--task", "rating", "--seed", "7", "--dataset", "clothing-reviews")
    assert code == 0, err
