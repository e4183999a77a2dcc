"""Canonical SHA-256 digests of run state, so that a file can prove it is whole and belongs to its run.

A digest is computed over values, not over a file's bytes: a checkpoint carries the digest of its own contents
(anything a flipped bit or a truncated write changes no longer matches), and a checkpoint can name the exact
SVD bases and settings its rounds were merged with, whichever file they are later read from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        t = value.detach().to("cpu").contiguous()
        digest.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, Mapping):
        digest.update(b"{")
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(b"[")
        for item in value:
            _feed(digest, item)
        digest.update(b"]")
    elif value is None or isinstance(value, (bool, int, float, str)):
        digest.update(f"{type(value).__name__}:{value!r};".encode())
    else:
        raise TypeError(f"cannot digest a {type(value).__name__}")


def file_digest(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in chunks so that a large data file never sits in memory whole."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def state_digest(value: Any) -> str:
    """SHA-256 (hex) of nested dicts, lists, tensors and scalars; equal values give equal digests, bit for bit."""
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()
