"""Named fault points, so that the reliability tests can kill or interrupt a run exactly where it hurts.

A test sets ``BOOSTLORA_FAULT`` to ``POINT=ACTION`` (several separated by commas; ``POINT#N=ACTION`` acts on
the N-th time the point is reached in this process, counting from 1). Actions:

- ``kill``: SIGKILL this process, as a power cut or the OOM killer would (no cleanup runs);
- ``interrupt``: raise ``KeyboardInterrupt``, as Ctrl-C would;
- ``enospc``: raise ``OSError(ENOSPC)``, as a full disk would;
- ``stall``: wait for up to a minute, or until the process gets SIGUSR1, so that a test can act while the run
  holds its directory and then let it go on.

Points are reached in the run's persistence path only (see ``POINTS``). Unset, a fault point costs one
environment lookup; nothing in a normal run sets the variable.
"""

from __future__ import annotations

import errno
import os
import signal
from collections import Counter

ENV = "BOOSTLORA_FAULT"

#: Where a run can be stopped, in the order a run reaches them.
POINTS = (
    "claiming",  # the run directory exists (created or found), its lock not yet taken
    "claimed",  # the run directory is locked, nothing loaded yet
    "svd-saved",  # the one-time SVD is in svd.safetensors, no checkpoint yet
    "save",  # a checkpoint is about to be written (the N-th save: 1 = base model, 2 = after round 0, ...)
    "write",  # a file's temporary copy is complete and about to replace the file (``write:NAME``)
    "saved",  # a checkpoint and report.json are written
    "final",  # final/ is written to its staging directory, not yet renamed into place
)

_hits: Counter[str] = Counter()


def _stall(seconds: float) -> None:
    """Wait ``seconds``, or less when SIGUSR1 arrives (blocked meanwhile, so it cannot end the process)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    try:
        signal.sigtimedwait({signal.SIGUSR1}, seconds)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def reset() -> None:
    """Forget how often each point was reached (tests call this between runs in one process)."""
    _hits.clear()


def fault_point(name: str) -> None:
    """Act on ``name`` if ``BOOSTLORA_FAULT`` asks for it; otherwise do nothing."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    _hits[name] += 1
    for item in spec.split(","):
        point, _, action = item.strip().partition("=")
        point, _, nth = point.partition("#")
        if point != name or (nth and int(nth) != _hits[name]):
            continue
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "interrupt":
            raise KeyboardInterrupt
        elif action == "enospc":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        elif action == "stall":
            _stall(60.0)
        else:
            raise ValueError(f"{ENV}: unknown action {action!r} for point {point!r}")
