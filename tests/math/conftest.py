"""Fixtures of the math plugin's tests."""

from __future__ import annotations

import pytest
import torch

from math_helpers import make_model, make_tokenizer


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tokenizer():
    return make_tokenizer()


@pytest.fixture
def chat_tokenizer():
    return make_tokenizer(chat_template=True)


@pytest.fixture
def tiny_model(tokenizer):
    return make_model(len(tokenizer))
