"""Tiny offline models and tokenizers for the math plugin's tests (no downloads, seconds to build).

A plain module (not conftest) so tests can import the builders; uniquely named because the tests folders
have no __init__.py and pytest puts each on sys.path."""

from __future__ import annotations

import pytest
import torch

from boostlora import Splits, Task, Verdict
from boostlora.lm.generation import generate

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


COUNT_A_PROMPTS = ["what is the answer ?", "1 + 2 =", "b c d", "what is 3 + 1 ?", "a b", "c d ?"]


class CountA(Task):
    """Reward: the share of the completion's words that are 'a'. A greedy answer that is all 'a' is correct.

    A GRPO task on the tiny model whose reward has variance from the first step, shared by the GRPO tests.
    """

    name = "count_a"
    default_targets = ("q_proj", "v_proj")
    default_objective = "grpo"
    tokenizer = None
    #: new tokens when evaluating, and the prompts (the held-out split is the first four)
    predict_tokens = 5
    prompts = COUNT_A_PROMPTS

    def load_model(self, model, device):
        self.tokenizer = make_tokenizer()
        return make_model(len(self.tokenizer), seed=0, init_range=0.3).to(device)

    def load_splits(self, seed):
        return Splits(train=list(self.prompts), eval=list(self.prompts[:4]))

    def predict(self, model, examples):
        return generate(model, self.tokenizer, list(examples), max_new_tokens=self.predict_tokens, batch_size=8,
                        show_progress=False)

    def oracle(self, example, prediction) -> Verdict:
        words = prediction.split()
        return Verdict(bool(words) and all(w == "a" for w in words), score=sum(w == "a" for w in words) / max(len(words), 1))

    def prompt(self, example):
        return example

    def reward(self, example, completion):
        return self.oracle(example, completion).reward
