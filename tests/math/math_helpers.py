"""Tiny offline models and tokenizers for the math plugin's tests (no downloads, seconds to build).

A plain module (not conftest) so tests can import the builders; uniquely named because the tests folders
have no __init__.py and pytest puts each on sys.path."""

from __future__ import annotations

import pytest
import torch

WORDS = ["a", "b", "c", "d", "1", "2", "3", "+", "=", "?", "what", "is", "the", "answer"]


def make_tokenizer(chat_template: bool = False):
    """A word-level fast tokenizer over a dozen words, with pad/eos/unk; optionally a tiny chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(["<pad>", "<eos>", "<unk>", *WORDS])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.decoder = decoders.WordPiece(prefix="##")  # joins word tokens with spaces
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")
    tok.padding_side = "left"
    if chat_template:
        tok.chat_template = (
            "{% for m in messages %}{{ m['content'] }} {% endfor %}{% if add_generation_prompt %}answer {% endif %}"
        )
    return tok


def make_model(vocab_size: int, seed: int = 0, init_range: float = 0.02):
    """A two-layer random-init Llama small enough to train on a CPU in seconds."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=1,
        tie_word_embeddings=False,
        initializer_range=init_range,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = 0
    model.generation_config.eos_token_id = 1
    return model.eval()
