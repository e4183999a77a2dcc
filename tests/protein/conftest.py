"""Fixtures of the protein plugin tests: a tiny random-init ESM2 built through the plugin's own loader."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from boostlora_plugins.protein.task import ProteinTask

TINY = "tiny-random-esm2"
CPU = torch.device("cpu")


@pytest.fixture
def make_task():
    """A ProteinTask with ``options``, its tiny model loaded (the loop's order: task, then model)."""

    def make(**options) -> tuple[ProteinTask, torch.nn.Module]:
        task = ProteinTask(options)
        return task, task.load_model(TINY, CPU)

    return make


@pytest.fixture
def write(tmp_path: Path):
    """Write a text file under tmp_path and return its path."""

    def write(name: str, text: str) -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: these models are tiny, and on a shared 2-core machine two threads contend (measured:
    the accuracy-over-rounds test ran several times slower with two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
