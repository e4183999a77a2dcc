"""A long command starts over once in the process environment a run wants, and that environment gives freed
tensors back to the system; TRL's fused log-probability head gives bit-identical results with the smaller CPU
tiles that cut its memory.

The allocator checks run in fresh interpreters: glibc reads its tunables when a process starts, and a long test
process has already fragmented its heap.
"""

from __future__ import annotations

import inspect
import json
import os
import platform
import subprocess
import sys

import pytest
import torch
from boostlora.foundation import launch
from boostlora.objectives.logprob_tiles import CPU_TOKENS_PER_TILE, cpu_logprob_tiles

# 200 blocks of 3 MiB, each followed by a small block that stays alive: on a heap the small ones pin the holes
FRAGMENT = """
import json, torch
def rss():
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmRSS:"))
warm = torch.ones(3 * 2**20 // 4); del warm  # with the default dynamic threshold, this free lifts it above 3 MiB
before = rss()
big, small = [], []
for _ in range(200):
    big.append(torch.ones(3 * 2**20 // 4))
    small.append(torch.ones(64 * 1024 // 4))
del big
print(json.dumps({"retained_mib": (rss() - before) / 2**20}))
"""

linux_glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                                 reason="glibc's tunables")


def retained(env: dict[str, str]) -> float:
    done = subprocess.run([sys.executable, "-c", FRAGMENT], capture_output=True, text=True, timeout=120, check=False,
                          env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])["retained_mib"]


def plain_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", launch.MARKER)}


@linux_glibc
def test_the_run_environment_gives_freed_blocks_back_to_the_system():
    default, run = retained(plain_environment()), retained(launch.run_environment(plain_environment()))
    # 600 MiB were freed; 200 x 64 KiB = 12.5 MiB stay alive either way
    assert run < 40, run
    assert default > 400, default  # what happens without it: the heap keeps the freed blocks


def test_a_setting_the_user_made_is_kept_and_others_are_added():
    env = launch.run_environment({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536:glibc.malloc.arena_max=2",
                                  "PATH": "/bin"})
    items = env["GLIBC_TUNABLES"].split(":")
    assert items[:2] == ["glibc.malloc.mmap_threshold=65536", "glibc.malloc.arena_max=2"]
    assert "glibc.malloc.hugetlb=1" in items and "glibc.malloc.trim_threshold=1048576" in items
    assert not any(item.startswith("glibc.malloc.mmap_threshold=1048576") for item in items)
    assert env["PATH"] == "/bin"
    complete = launch.run_environment({})
    assert launch.run_environment(complete) == complete  # nothing left to add: no reason to start over
    assert launch.run_environment({"OMP_WAIT_POLICY": "ACTIVE"}, load=3.0)["OMP_WAIT_POLICY"] == "ACTIVE"
    assert launch.run_environment({"GOMP_SPINCOUNT": "5"}, load=3.0)["GOMP_SPINCOUNT"] == "5"
    assert "OMP_WAIT_POLICY" not in launch.run_environment({"GOMP_SPINCOUNT": "5"}, load=3.0)


def test_openmp_threads_sleep_at_once_only_when_other_work_holds_a_cpu():
    quiet, busy = launch.run_environment({}, load=0.3), launch.run_environment({}, load=2.5)
    assert quiet["GOMP_SPINCOUNT"] == "10000" and "OMP_WAIT_POLICY" not in quiet
    assert busy["OMP_WAIT_POLICY"] == "PASSIVE" and "GOMP_SPINCOUNT" not in busy


@linux_glibc
def test_only_long_commands_start_over_and_only_once():
    env = plain_environment()
    assert launch.wants_relaunch(["run", "--out", "x"], env)
    assert launch.wants_relaunch(["bench", "--suite", "cpu"], env)
    assert not launch.wants_relaunch(["report", "runs/x"], env)
    assert not launch.wants_relaunch(["settings"], env)
    assert not launch.wants_relaunch(["run"], {**env, launch.MARKER: "1"})  # already started over
    assert not launch.wants_relaunch(["run"], {**env, launch.MARKER: "0"})  # the user's "never"


@linux_glibc
def test_starting_over_keeps_the_process_and_its_arguments_and_adds_the_environment():
    script = (
        "import os, sys\n"
        "from boostlora.foundation.launch import relaunch_for_long_commands\n"
        "print('start', os.getpid(), flush=True)\n"
        "relaunch_for_long_commands(sys.argv[1:])\n"
        "print('now', os.getpid(), sys.argv[1:], os.environ.get('BOOSTLORA_RUN_ENVIRONMENT'),"
        " os.environ.get('GLIBC_TUNABLES'), flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, "run", "--out", "my dir"], capture_output=True, text=True,
                          timeout=120, check=False, env=plain_environment())
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    starts = [line for line in lines if line.startswith("start")]
    assert len(starts) == 2 and starts[0] == starts[1]  # the same process, started over exactly once
    assert lines[-1] == (f"now {starts[0].split()[1]} ['run', '--out', 'my dir'] 1 "
                         f"{launch.run_environment({}, load=0.0)['GLIBC_TUNABLES']}")


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
