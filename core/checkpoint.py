"""Run-directory persistence: every write lands whole or not at all.

A round's checkpoint is small because the method makes it small: the model after round k is the base model
plus k exact low-rank updates, so we store each round's r x r core per module (and any tensors the task
changed, such as a fitted head) instead of the weights. Resuming replays the merges with the same arithmetic
and the same cached bases, which reproduces the interrupted run's weights bit for bit.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

CHECKPOINT = "checkpoint.pt"
REPORT = "report.json"
CONFIG = "config.yaml"
SVD_CACHE = "svd.safetensors"
FINAL = "final"


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    An interrupted write leaves the previous file untouched (rename is atomic within a file system).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> None:
    """Write the run state (JSON-like values and tensors only) atomically."""
    with atomic_path(run_dir / CHECKPOINT) as tmp:
        torch.save(state, tmp)


def load_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / CHECKPOINT
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)
