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
from llmrec.finetune import (IGNORE_INDEX, MANIFEST, FinetuneConfig, build_examples, check_options,
                             encode_example, encode_examples, finetune, load_sft_template,
                             training_samples, SFTExample)
from llmrec.tasks import TASKS, SampleOptions, parse_task_list

sys.path.insert(0, str(Path(__file__).parent))
from tiny_model import build_tiny_llama  # noqa: E402

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
    assert losses["first10_mean"] == pytest.approx(sum(e["loss"] for e in losses["train"]) / 4)
    assert manifest["training"]["global_step"] == 4 and manifest["wall_time_s"] > 0


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
