"""Freed tensors go back to the system once a run has fixed glibc's thresholds, and TRL's fused log-probability head
gives bit-identical results with the smaller CPU tiles that cut its memory.

The allocator check runs in fresh interpreters: the thresholds are per process, and a long test process has already
fragmented its heap.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest
import torch
from boostlora.objectives.logprob_tiles import CPU_TOKENS_PER_TILE, cpu_logprob_tiles

# 200 blocks of 3 MiB, each followed by a small block that stays alive: on a heap the small ones pin the holes
FRAGMENT = """
import json, sys, torch
from boostlora.foundation.allocator import return_freed_memory
fixed = sys.argv[1] == "fixed" and return_freed_memory()
def rss():
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmRSS:"))
warm = torch.ones(3 * 2**20 // 4); del warm  # with the dynamic threshold, this free lifts it above 3 MiB
before = rss()
big, small = [], []
for _ in range(200):
    big.append(torch.ones(3 * 2**20 // 4))
    small.append(torch.ones(64 * 1024 // 4))
del big
print(json.dumps({"fixed": fixed, "retained_mib": (rss() - before) / 2**20}))
"""


def retained(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", FRAGMENT, mode], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_blocks_are_returned_to_the_system_with_fixed_thresholds():
    dynamic, fixed = retained("dynamic"), retained("fixed")
    assert fixed["fixed"] is True
    # 600 MiB were freed; 200 x 64 KiB = 12.5 MiB stay alive either way
    assert fixed["retained_mib"] < 40, fixed
    assert dynamic["retained_mib"] > 400, dynamic  # what happens without it: the heap keeps the freed blocks


def fold(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, ...]:
    from trl.kernels.chunked_logprob import ChunkedLogProbFunction

    hidden = hidden.clone().requires_grad_(True)
    logprobs, entropy, *_ = ChunkedLogProbFunction.apply(hidden, weight, None, targets, 0.7, 4096, None, 1.0,
                                                         ("entropy",))
    (logprobs.sum() + 0.3 * entropy.sum()).backward()
    return logprobs.detach(), entropy.detach(), hidden.grad


def test_cpu_tiles_change_no_bit_of_the_log_probabilities_entropies_or_gradient():
    generator = torch.Generator().manual_seed(0)
    tokens = 3 * CPU_TOKENS_PER_TILE + 17  # several tiles and a ragged last one
    hidden = torch.randn(tokens, 48, generator=generator)
    weight = torch.randn(5000, 48, generator=generator)  # frozen, as the LM head is in a boosting round
    targets = torch.randint(0, 5000, (tokens,), generator=generator)
    whole = fold(hidden, weight, targets)
    with cpu_logprob_tiles(torch.device("cpu")) as changed:
        from trl.kernels import chunked_logprob

        assert changed and chunked_logprob.TOKEN_CHUNK_SIZE == CPU_TOKENS_PER_TILE
        tiled = fold(hidden, weight, targets)
    assert chunked_logprob.TOKEN_CHUNK_SIZE > CPU_TOKENS_PER_TILE  # restored
    for a, b in zip(whole, tiled):
        assert torch.equal(a, b)


def test_tiles_are_left_alone_off_the_cpu_and_trl_still_reads_the_setting_at_call_time():
    from trl.kernels import chunked_logprob

    before = chunked_logprob.TOKEN_CHUNK_SIZE
    with cpu_logprob_tiles(torch.device("meta")) as changed:
        assert not changed and chunked_logprob.TOKEN_CHUNK_SIZE == before
    # the saving relies on the fold reading this module global on every call, not binding it at import
    assert "TOKEN_CHUNK_SIZE" in inspect.getsource(chunked_logprob.ChunkedLogProbFunction.forward)
    assert "TOKEN_CHUNK_SIZE" in inspect.getsource(chunked_logprob.ChunkedLogProbFunction.backward)
