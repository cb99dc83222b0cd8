"""The transformers backend (CPU or CUDA).

Generation: greedy requests are sorted by prompt length and run in left-padded batches with
explicit position ids, so a prompt's output does not depend on its batch neighbours. Sampled
requests run one prompt at a time (n returns each), seeded by the request, for the same reason.

Log-likelihood: each prompt runs once; its continuations then run packed side by side in one
row after the cached prompt, kept apart by a block attention mask, so they pay only for their own
tokens and the prompt's cache is never copied per continuation.

Token counts (`tokens_in`, `tokens_out`, running totals for the run record), what the model ran on:
- generate: in, each request's prompt ids after the chat template, once (sampling runs n returns
  from one prompt); out, each generated sequence's tokens up to and including the one that ended it
  (EOS, the token completing a stop string, or the token limit), never padding. A greedy request
  with n > 1 is generated once and counted once.
- loglikelihood: in, each request's prompt ids once (its cache serves all its continuations) plus
  every token of every continuation; out, nothing.

torch and transformers are imported inside functions: this module is imported at load time only.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import warnings
from typing import Any, Sequence

from llmrec.backends.local import (LocalBackend, continuation_ids, first_line, load_model, pick_device, pick_dtype,
                                   truncate_at_stop)
from llmrec.backends.models import ResolvedModel
from llmrec.errors import LLMRecError
from llmrec.heap import large_buffers_reused
from llmrec.types import GenerateRequest, Score, ScoreRequest

# On CPU wide batches amortise reading the weights at every step until the KV cache and padding
# dominate: SmolLM2, 64 prompts x 64 new tokens, 2 threads, static cache: 32 rows 42 s, 64 rows 49 s.
CPU_MAX_BATCH = 32
GPU_MAX_BATCH = 128
CPU_MEMORY_BUDGET = 1 << 30  # bytes of KV cache + logits a CPU batch may take
GPU_MEMORY_FRACTION = 0.25  # of the free CUDA memory after loading
# Continuation tokens per packed scoring pass. Every packed token also attends over the whole pack
# (masked), so very long packs waste attention work; on CPU 512 measured faster than 256 or 1024.
CPU_PACK_TOKENS = 512
GPU_PACK_TOKENS = 8192


def parse_batch_size(batch_size: int | str) -> int | None:
    """An int >= 1, or None for "auto"."""
    if isinstance(batch_size, str):
        if batch_size.strip().lower() == "auto":
            return None
        if not batch_size.strip().isdigit():
            raise LLMRecError(f"--batch-size {batch_size}: expected a positive integer or 'auto'")
        batch_size = int(batch_size)
    if batch_size < 1:
        raise LLMRecError(f"--batch-size {batch_size}: expected a positive integer or 'auto'")
    return batch_size


def plan_batches(widths: Sequence[int], batch_size: int | None, row_cost: int, budget: int,
                 cap: int) -> list[list[int]]:
    """Group indices sorted by width (little padding) into batches.

    Fixed `batch_size`: chunks of that size. Auto: grow a batch while rows x (width + row_cost)
    stays within `budget` tokens and the batch has at most `cap` rows.
    """
    order = sorted(range(len(widths)), key=lambda i: (widths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current:
            full = (len(current) >= batch_size if batch_size
                    else len(current) >= cap or (len(current) + 1) * (widths[i] + row_cost) > budget)
            if full:
                batches.append(current)
                current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def plan_packs(lengths: Sequence[int], token_budget: int, max_items: int | None = None) -> list[list[int]]:
    """Consecutive indices grouped so each group's lengths sum to at most `token_budget` (a longer
    item goes alone) and, if given, a group holds at most `max_items` items."""
    packs: list[list[int]] = []
    current: list[int] = []
    used = 0
    for i, n in enumerate(lengths):
        if current and (used + n > token_budget or (max_items and len(current) >= max_items)):
            packs.append(current)
            current, used = [], 0
        current.append(i)
        used += n
    if current:
        packs.append(current)
    return packs


def _make_row_stopper(tokenizer: Any, prompt_width: int, max_new: list[int], stops: list[tuple[str, ...]]):
    """A StoppingCriteria that ends each row at its own token limit or at its own stop strings."""
    import torch
    from transformers import StoppingCriteria

    class RowStopper(StoppingCriteria):
        def __init__(self):
            self.done = [False] * len(max_new)
            self.ended_at = list(max_new)  # tokens each row had generated when this criterion ended it

        def __call__(self, input_ids, scores, **kwargs):
            generated = input_ids[:, prompt_width:]
            for row, limit in enumerate(max_new):
                if self.done[row]:
                    continue
                if generated.shape[1] >= limit:
                    self.done[row] = True
                elif stops[row]:
                    text = tokenizer.decode(generated[row], skip_special_tokens=True)
                    self.done[row] = any(s in text for s in stops[row])
                if self.done[row]:
                    self.ended_at[row] = generated.shape[1]
            return torch.tensor(self.done, dtype=torch.bool, device=input_ids.device)

    return RowStopper()


class HFBackend(LocalBackend):
    name = "hf"

    def __init__(self, resolved: ResolvedModel, *, batch_size: int | str = "auto", device: str = "auto",
                 dtype: str = "auto", seed: int = 0):
        import torch

        self.resolved = resolved
        self.batch_size = parse_batch_size(batch_size)
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        self.seed = seed
        torch.manual_seed(seed)
        self.tokenizer, self.model = self._load()
        self._templated: set[bool] = set()
        self.tokens_in = 0  # running totals; the module docstring says what is counted
        self.tokens_out = 0

    # ---- loading ----

    def _load(self):
        from transformers import GenerationConfig

        options: dict[str, Any] = {"device_map": {"": str(self.device)}} if self.device.type == "cuda" else {}
        tokenizer, model = load_model(self.resolved, self.dtype, **options)
        if self.resolved.adapter is not None:
            try:
                from peft import PeftModel

                with warnings.catch_warnings():  # peft calls a method transformers has deprecated
                    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing`")
                    model = PeftModel.from_pretrained(model, str(self.resolved.adapter))
                model = model.merge_and_unload()  # plain weights: generation runs at base-model speed
            except Exception as exc:
                raise LLMRecError(f"--adapter {self.resolved.adapter}: cannot load the adapter: "
                                  f"{first_line(exc)}") from exc
        model.to(self.device)
        model.eval()

        self.original_generation_config = model.generation_config
        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            eos_ids.add(tokenizer.eos_token_id)
        self.eos_ids = sorted(eos_ids)
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (self.eos_ids[0] if self.eos_ids else 0)
        # Plain decoding: the model's own defaults (repetition penalties, sampling) must not leak into
        # "greedy"; every call states what it wants.
        model.generation_config = GenerationConfig(
            bos_token_id=model.generation_config.bos_token_id, eos_token_id=self.eos_ids or None,
            pad_token_id=self.pad_id,
        )
        params = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._keep_kw = next((k for k in ("logits_to_keep", "num_logits_to_keep") if k in params), None)
        return tokenizer, model

    # ---- the Backend protocol ----

    @property
    def context_length(self) -> int | None:
        config = self.model.config
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        return getattr(text_config, "max_position_embeddings", None)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[list[str]]:
        with self._reused_buffers():
            return self._generate(requests)

    def loglikelihood(self, requests: Sequence[ScoreRequest]) -> list[list[Score]]:
        with self._reused_buffers():
            return [self._score(request) for request in requests]

    def _reused_buffers(self):
        """On CPU every forward pass allocates large activations anew: keep them on the heap (llmrec.heap)."""
        return large_buffers_reused() if self.device.type == "cpu" else contextlib.nullcontext()

    def _generate(self, requests: Sequence[GenerateRequest]) -> list[list[str]]:
        import torch

        encoded = [self._encode(r.prompt, r.chat) for r in requests]
        results: list[list[str]] = [[] for _ in requests]
        greedy = [i for i, r in enumerate(requests) if r.temperature <= 0]
        if greedy:
            longest_new = max(requests[i].max_new_tokens for i in greedy)
            batches = plan_batches([len(encoded[i]) for i in greedy], self.batch_size, longest_new,
                                   *self._generation_budget())
            for batch in batches:
                rows = [greedy[j] for j in batch]
                texts = self._run_generate([encoded[i] for i in rows], [requests[i] for i in rows], 1)
                for i, text in zip(rows, texts):
                    results[i] = [text] * requests[i].n  # greedy: every return is the same
        for i, request in enumerate(requests):
            if request.temperature > 0:
                torch.manual_seed(request.seed)  # seeds CUDA too
                results[i] = self._run_generate([encoded[i]], [request], request.n)
        return results

    def info(self) -> dict[str, Any]:
        import torch
        import transformers

        resolved = self.resolved
        return {
            **self._model_record(self.model),
            "model_id": resolved.load_id if resolved.kind != "embedded" else self._registry_id(),
            "weights": resolved.load_id,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
            "torch_threads": torch.get_num_threads(),
            "batch_size": self.batch_size or "auto",
            "decoding": "greedy = argmax, no model generation_config defaults; sampling seeded per request",
            "torch_version": torch.__version__,
            "transformers_version": transformers.__version__,
        }

    def _registry_id(self) -> str:
        from llmrec.backends.models import registry

        return registry().get(self.resolved.name, {}).get("id", self.resolved.load_id)

    # ---- internals ----

    def _kv_bytes_per_token(self) -> int:
        config = self.model.config
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        heads = getattr(text, "num_attention_heads", 1)
        head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
        kv_heads = getattr(text, "num_key_value_heads", None) or heads
        element = self.model.dtype.itemsize if hasattr(self.model.dtype, "itemsize") else 4
        return text.num_hidden_layers * 2 * kv_heads * head_dim * element

    def _memory_budget(self) -> int:
        import torch

        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            return int(free * GPU_MEMORY_FRACTION)
        return CPU_MEMORY_BUDGET

    def _vocab_size(self) -> int:
        config = self.model.config
        return (config.get_text_config() if hasattr(config, "get_text_config") else config).vocab_size

    def _generation_budget(self) -> tuple[int, int]:
        """(tokens of KV cache a generation batch may hold, most rows per batch)."""
        cap = GPU_MAX_BATCH if self.device.type == "cuda" else CPU_MAX_BATCH
        return max(1, self._memory_budget() // self._kv_bytes_per_token()), cap

    def _pack_tokens(self) -> int:
        """Continuation tokens per packed pass: fp32 logits and their log-softmax dominate memory."""
        cap = GPU_PACK_TOKENS if self.device.type == "cuda" else CPU_PACK_TOKENS
        token_bytes = self._vocab_size() * 8 + self._kv_bytes_per_token()
        return max(1, min(cap, self._memory_budget() // token_bytes))

    def _run_generate(self, prompts: list[list[int]], requests: list[GenerateRequest], n: int) -> list[str]:
        """One generate() call: left-padded prompts; greedy (n=1 per prompt) or sampling (n returns)."""
        import torch
        from transformers import StoppingCriteriaList

        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, ids in enumerate(prompts):
            input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            mask[row, width - len(ids):] = 1
        # Positions count real tokens only, so padding never shifts a prompt's rotary positions.
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        max_new = [r.max_new_tokens for r in requests for _ in range(n)]
        stops = [tuple(r.stop) for r in requests for _ in range(n)]
        stopper = _make_row_stopper(self.tokenizer, width, max_new, stops)
        options: dict[str, Any] = {"do_sample": False, "num_beams": 1}
        if n > 1 or requests[0].temperature > 0:
            request = requests[0]
            options = {"do_sample": True, "temperature": request.temperature, "top_p": request.top_p,
                       "top_k": 0, "num_return_sequences": n}
        if self.device.type == "cpu":
            # A cache allocated once for the whole batch: the default one grows by concatenation, which
            # copies every row's cache at every step (SmolLM2, 64 prompts x 64 tokens: 14% slower).
            options["cache_implementation"] = "static"
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device),
                position_ids=position_ids.to(self.device), max_new_tokens=max(max_new),
                stopping_criteria=StoppingCriteriaList([stopper]), **options,
            )
        texts = []
        self.tokens_in += sum(len(p) for p in prompts)
        for row in range(output.shape[0]):
            tokens = output[row, width:width + max_new[row]].tolist()
            cut = next((k for k, t in enumerate(tokens) if t in self.eos_ids), len(tokens))
            # Rows that ended early are padded (or, without an EOS id, run on) until the batch ends.
            self.tokens_out += min(cut + 1, stopper.ended_at[row])
            text = self.tokenizer.decode(tokens[:cut], skip_special_tokens=True)
            texts.append(truncate_at_stop(text, stops[row]))
        return texts

    def _score(self, request: ScoreRequest) -> list[Score]:
        import torch

        prompt = self._encode(request.prompt, request.chat)
        if not prompt:
            raise LLMRecError("loglikelihood: the prompt is empty after tokenisation; nothing to condition on")
        conts = [continuation_ids(self.tokenizer, c) for c in request.continuations]
        self.tokens_in += len(prompt) + sum(len(c) for c in conts)
        scores: list[Score | None] = [Score(0.0, 0) if not c else None for c in conts]
        width = len(prompt)
        with torch.inference_mode():
            extra = {self._keep_kw: 1} if self._keep_kw else {}
            out = self.model(input_ids=torch.tensor([prompt], device=self.device), use_cache=True, **extra)
            cache = getattr(out, "cache", None) or out.past_key_values
            first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)  # predicts each first token
            for i, c in enumerate(conts):
                if len(c) == 1:
                    scores[i] = Score(float(first[c[0]]), 1)
            # Longer continuations feed their tokens but the last to the cached prompt, several per pass.
            longer = [i for i, c in enumerate(conts) if len(c) > 1]
            packs = plan_packs([len(conts[i]) - 1 for i in longer], self._pack_tokens(), self.batch_size)
            for pack in packs:
                rows = [longer[j] for j in pack]
                sums = self._score_pack(cache, width, [conts[i] for i in rows])
                for i, total in zip(rows, sums):
                    scores[i] = Score(float(first[conts[i][0]]) + total, len(conts[i]))
        return scores  # type: ignore[return-value]

    def _score_pack(self, prompt_cache, width: int, conts: list[list[int]]) -> list[float]:
        """Summed log-probs of tokens 2.. of each continuation, all fed in one row after the prompt.

        Each fed token sees the whole prompt and the earlier tokens of its own continuation only
        (a 4D additive mask), at the position it would have right after the prompt.
        """
        import torch

        fed = [c[:-1] for c in conts]
        lengths = [len(f) for f in fed]
        total = sum(lengths)
        device = self.device
        inputs = torch.tensor([[t for f in fed for t in f]], device=device)
        targets = torch.tensor([t for c in conts for t in c[1:]], device=device)
        positions = torch.tensor([[width + k for n in lengths for k in range(n)]], device=device)
        segment = torch.repeat_interleave(torch.arange(len(fed)), torch.tensor(lengths)).to(device)
        order = torch.arange(total, device=device)
        own = (segment[:, None] == segment[None, :]) & (order[:, None] >= order[None, :])
        allowed = torch.cat([torch.ones((total, width), dtype=torch.bool, device=device), own], dim=1)
        mask = torch.zeros(allowed.shape, dtype=self.model.dtype, device=device)
        mask.masked_fill_(~allowed, torch.finfo(self.model.dtype).min)
        cache = copy.deepcopy(prompt_cache)  # one row: cheap, and the prompt's cache stays as it was
        out = self.model(input_ids=inputs, attention_mask=mask[None, None], position_ids=positions,
                         use_cache=True, **{self._cache_kw: cache})
        logprobs = torch.log_softmax(out.logits[0].float(), dim=-1)
        picked = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        return [float(part.sum()) for part in torch.split(picked, lengths)]
