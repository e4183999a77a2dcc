"""Batched greedy generation returns what one-at-a-time generation returns, in input order."""

from __future__ import annotations

import pytest

from boostlora.lm.generation import generate, render_prompt, truncate_at_stop
from math_helpers import make_model, make_tokenizer

PROMPTS = [
    "what is 1 + 2 ?",
    "a",
    "what is the answer to 3 + 3 + 1 ?",
    "b c",
    "the answer is",
    "1 2 3 + = ? a b c d what",
    "c",
]


@pytest.mark.parametrize("chat", [False, True])
def test_batched_equals_one_at_a_time(chat):
    tokenizer = make_tokenizer(chat_template=chat)
    model = make_model(len(tokenizer), seed=1, init_range=0.3)
    single = [generate(model, tokenizer, [p], max_new_tokens=8, batch_size=1, show_progress=False)[0] for p in PROMPTS]
    batched = generate(model, tokenizer, PROMPTS, max_new_tokens=8, batch_size=3, show_progress=False)
    assert batched == single
    assert len(set(single)) > 2, "the tiny model should answer different prompts differently"


def test_stop_strings_truncate_and_order_is_kept():
    tokenizer = make_tokenizer()
    model = make_model(len(tokenizer), seed=1, init_range=0.3)
    full = generate(model, tokenizer, PROMPTS, max_new_tokens=8, batch_size=4, show_progress=False)
    word = next(w for text in full for w in text.split()[1:])  # a word some completion produces after its start
    stopped = generate(model, tokenizer, PROMPTS, max_new_tokens=8, batch_size=4, stop=[word], show_progress=False)
    assert stopped == [truncate_at_stop(t, [word]) for t in full]
    assert any(len(s) < len(f) for s, f in zip(stopped, full))


def test_render_prompt_with_and_without_chat_template():
    plain, chat = make_tokenizer(), make_tokenizer(chat_template=True)
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "1 + 2"}]
    assert render_prompt(plain, "1 + 2") == "1 + 2"
    assert render_prompt(plain, messages) == "system: be brief\nuser: 1 + 2\nassistant:"
    assert render_prompt(chat, "1 + 2") == "1 + 2 answer "
    assert render_prompt(chat, messages) == "be brief 1 + 2 answer "


def test_truncate_at_stop_takes_the_earliest():
    assert truncate_at_stop("12\nQuestion: 3 ####", ["####", "\nQuestion"]) == "12"
    assert truncate_at_stop("12", ["\n"]) == "12"
    assert truncate_at_stop("12", []) == "12"
