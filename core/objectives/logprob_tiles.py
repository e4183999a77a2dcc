"""Smaller tiles for TRL's fused log-probability head on the CPU, where its transient is the largest.

TRL's GRPO trainer scores completions with a fused LM head (``trl.kernels.chunked_logprob``) that never builds the
whole ``[tokens, vocabulary]`` logits: it projects ``TOKEN_CHUNK_SIZE`` tokens (4,096) against 32,768 words at a
time. Without Triton (every CPU) the fold over each tile runs as whole-tile torch operations, each one a tile-sized
temporary, and it scores every position of the batch, prompt included. On the default job a step's batch is
64 sequences x 57 positions = 3,648 tokens, so each temporary is 3,648 x 32,768 x 4 bytes = 478 MB, and the
forward and backward folds hold several at once: about 2.2 GB of a step's peak (``benchmarks/memory_peak.py``).

Fewer tokens per tile shrink every temporary in proportion. Each token's row is folded on its own, over the same
vocabulary chunks in the same order, and the one matrix product whose sum runs over tokens (the LM head's weight
gradient) is not taken because that weight is frozen, so the log-probabilities, the entropies and the gradient
are bit-identical (the default job's round cores were compared with ``torch.equal``). On GPUs, where the tile
size sets GEMM efficiency and memory is plentiful, TRL's own value is left alone.

The tile size is a module global of TRL's, not public API: if a release renames it, nothing is changed and only
the memory saving is lost (trl is pinned below its next major release in pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

#: Tokens per tile on the CPU: 512 x 32,768 x 4 bytes = 64 MiB per temporary.
CPU_TOKENS_PER_TILE = 512


@contextmanager
def cpu_logprob_tiles(device: torch.device, tokens: int | None = None) -> Iterator[bool]:
    """Within the block, TRL's fused head projects at most ``tokens`` tokens per tile on a CPU ``device``.

    ``tokens`` defaults to ``CPU_TOKENS_PER_TILE`` as it is when the block opens (a benchmark can raise it).

    Yields whether the tile size was changed (False on other devices, or when TRL has no such setting).
    """
    try:
        from trl.kernels import chunked_logprob
    except ImportError:
        chunked_logprob = None
    tokens = CPU_TOKENS_PER_TILE if tokens is None else tokens
    previous = getattr(chunked_logprob, "TOKEN_CHUNK_SIZE", None)
    if device.type != "cpu" or not isinstance(previous, int) or previous <= tokens:
        yield False
        return
    chunked_logprob.TOKEN_CHUNK_SIZE = tokens
    try:
        yield True
    finally:
        chunked_logprob.TOKEN_CHUNK_SIZE = previous
