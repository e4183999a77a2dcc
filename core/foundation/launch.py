"""The process environment a long command wants before any library loads, and the one re-exec that gets it.

Two settings decide how a run uses the machine but are read only once, when the C libraries start:

- **glibc's allocator** (``GLIBC_TUNABLES``). With its default dynamic mmap threshold, the thousands of 1-30 MiB
  tensors a training step frees land on malloc's heap, fragment it, and the process keeps gigabytes it no longer
  uses: one GRPO step of the default job peaked at 3.6 GB resident. A fixed 1 MiB mmap (and trim) threshold gives
  freed blocks back at once (1.9 GB), but every new block then faults its pages in again, 4 KiB at a time: 25%
  more CPU per step. Backing those blocks with transparent huge pages (``glibc.malloc.hugetlb=1``, which
  ``madvise``s malloc's memory) removes most of the faults: 1.9 GB at 2% more CPU on a quiet machine, up to 26%
  beside other work (``benchmarks/memory_peak.py``, SPEED.md). Where memory lives never changes a value, so
  rounds stay bit-identical.
- **How OpenMP threads wait.** By default GNU OpenMP (PyTorch's CPU threads) spins for a while at every barrier
  before sleeping. When other processes hold the CPUs, a spinning thread burns the time its descheduled sibling
  needs: beside two busy processes on 2 cores a step cost 5.2x its quiet time, where a fair share is 2x
  (``benchmarks/cpu_share.py``). ``OMP_WAIT_POLICY=PASSIVE`` (sleep at once) brought that to 1.6x but made the
  quiet step 16% slower; ``GOMP_SPINCOUNT=10000`` (a short spin) kept the quiet speed (0.94x) and gave 2.8x. So
  the wait is chosen from the CPUs actually free when the command starts: passive when the one-minute load
  average says other work holds at least one CPU, the short spin otherwise.

``mallopt`` can set the thresholds from inside a running process but not the huge pages, and the OpenMP runtime
has already read its policy by the time ``import torch`` returns, so ``boostlora run`` and ``boostlora bench``
start over once, early, with these variables added (``os.execve``: same process id, same arguments, so
launchers such as ``torchrun`` see nothing). A value the user set is kept; ``BOOSTLORA_RUN_ENVIRONMENT=0`` turns
the re-exec off. Other systems, other C libraries and code that calls ``boostlora.cli.main`` itself are left
alone: a library must not replace its host process.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping, Sequence

#: glibc tunables for a run (glibc 2.35 or later reads ``hugetlb``; older ones ignore it and keep the thresholds).
MALLOC_TUNABLES = {
    "glibc.malloc.hugetlb": "1",
    "glibc.malloc.mmap_threshold": str(1024 * 1024),
    "glibc.malloc.trim_threshold": str(1024 * 1024),
}
#: Set in the started-over process, so it never starts over again; ``0`` from the user means "never".
MARKER = "BOOSTLORA_RUN_ENVIRONMENT"
#: The commands that train or evaluate for minutes; the others start fast and stay as they are.
LONG_COMMANDS = ("run", "bench")


#: Spin iterations before a waiting OpenMP thread sleeps, on a machine with its CPUs free.
SHORT_SPIN = "10000"
#: Other work holding at least this many CPUs (one-minute load average) makes waiting threads sleep at once.
BUSY_LOAD = 1.0


def openmp_wait(load: float) -> dict[str, str]:
    """How OpenMP threads should wait, given the load average of the machine's other work."""
    return {"OMP_WAIT_POLICY": "PASSIVE"} if load >= BUSY_LOAD else {"GOMP_SPINCOUNT": SHORT_SPIN}


def machine_load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def run_environment(environ: Mapping[str, str], load: float | None = None) -> dict[str, str]:
    """``environ`` with the run's settings added where the user has not set them (a new dict).

    ``load``: the machine's one-minute load average (read now when not given), which decides how OpenMP waits.
    """
    env = dict(environ)
    if "OMP_WAIT_POLICY" not in env and "GOMP_SPINCOUNT" not in env:
        env.update(openmp_wait(machine_load() if load is None else load))
    present = [item for item in env.get("GLIBC_TUNABLES", "").split(":") if item]
    named = {item.split("=", 1)[0] for item in present}
    added = [f"{key}={value}" for key, value in MALLOC_TUNABLES.items() if key not in named]
    if added:
        env["GLIBC_TUNABLES"] = ":".join(present + added)
    return env


def wants_relaunch(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether this process (started with ``argv``, the CLI's arguments) should start over with the run environment."""
    if environ.get(MARKER) is not None or not sys.platform.startswith("linux"):
        return False
    if platform.libc_ver()[0] != "glibc":
        return False
    command = next((a for a in argv if not a.startswith("-")), None)
    return command in LONG_COMMANDS and run_environment(environ) != dict(environ)


def relaunch_for_long_commands(argv: Sequence[str]) -> None:
    """Start this process over with the run environment when ``argv`` is a long command; return otherwise.

    Called only from the command-line entry points, before any work: ``sys.orig_argv`` is the command line that
    started the interpreter (``python -m boostlora ...`` or the ``boostlora`` script), so the new image runs the
    same command.
    """
    if not wants_relaunch(argv, os.environ):
        return
    env = run_environment(os.environ)
    env[MARKER] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
    except OSError:
        return  # cannot start over (a sandbox without exec): run as is, only the memory saving is lost
