"""A tiny random llama (hidden 32, 2 layers) with the real SmolLM2 tokenizer and chat template.

Loads and runs in well under a second, so tests can exercise the full transformers code paths
(padding, caches, templates, adapters) without the cost of a real model.
"""

from __future__ import annotations

from pathlib import Path


def build_tiny_llama(out_dir: Path, tokenizer_dir: Path, *, seed: int = 0) -> Path:
    """Save a randomly initialised 2-layer llama plus the tokenizer of `tokenizer_dir` into `out_dir`."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        initializer_range=0.1,  # wider than the default: clear-cut argmax decisions, not near-uniform logits
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
