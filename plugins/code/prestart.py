"""Candidates started one check ahead: the next check's sandbox starts while this check runs.

Why. Most of a check's time is the candidate's start: its memory cgroup, bubblewrap's namespaces and mounts,
the interpreter (``benchmarks/code_check_cost.py --stages``). None of it depends on the program: the harness
starts, then waits for its job on stdin. So ``sandbox.py`` starts the candidate of the *next* check as soon as
this check's two processes run, and the next check takes it ready. Only within a batch (``Checker.check_many``
passes ``ahead`` to every check but the last ones, and discards what is left when the batch ends), so nothing
waits between batches. A candidate started for other limits, a dead one, or the end of the process is discarded.

What stays as it was. Each program still gets its own candidate process in its own bubblewrap sandbox (pid,
mount, network and IPC namespaces, its own tmpfs) and its own fresh cgroup, made for it and removed after it.
The uid is claimed by the check that runs the program and reaches the harness in the job, so a waiting
candidate holds none, and it is root inside its sandbox with nothing but the harness loaded: it has read no
job and run no code of anyone's. It cannot see or reach the check that is running, nor be reached by it
(another pid and network namespace, another tmpfs).

Only under bubblewrap: the fallbacks start the program in a host directory made for, and owned by, its uid.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import threading
from collections.abc import Hashable
from dataclasses import dataclass

from . import cgroup


@dataclass
class Started:
    """A candidate harness waiting for its job, and the call channel's descriptors: the host's ends (for the
    judge) and the numbers of the candidate's ends in its own process (for its job)."""

    proc: subprocess.Popen
    group: cgroup.CandidateCgroup | None
    calls_w: int
    reply_r: int
    calls_fd: int
    reply_fd: int

    def discard(self) -> None:
        """Kill it, reap it, close its descriptors and remove its cgroup."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            stream.close()
        for fd in (self.calls_w, self.reply_r):
            os.close(fd)
        if self.group is not None:
            self.group.remove()


_waiting: list[tuple[Hashable, Started]] = []
_lock = threading.Lock()
MAX_WAITING = 16  # more workers than this start some of their candidates at check time


def take(key: Hashable) -> Started | None:
    """A waiting candidate started for ``key`` (isolation, limits, cgroup support) that is still alive, or None."""
    with _lock:
        for index, (waiting_key, started) in enumerate(_waiting):
            if waiting_key == key:
                del _waiting[index]
                break
        else:
            return None
    if started.proc.poll() is not None:  # it died while waiting: never hand it a program
        started.discard()
        return None
    return started


def keep(key: Hashable, started: Started) -> None:
    """Let ``started`` wait for a check of ``key``; candidates started for other limits are discarded."""
    with _lock:
        stale = [s for k, s in _waiting if k != key]
        _waiting[:] = [(k, s) for k, s in _waiting if k == key]
        if len(_waiting) < MAX_WAITING:
            _waiting.append((key, started))
        else:
            stale.append(started)
    for old in stale:
        old.discard()


def discard(key: Hashable | None = None) -> None:
    """Discard the candidates waiting for ``key`` (None: all of them)."""
    with _lock:
        waiting = [s for k, s in _waiting if key is None or k == key]
        _waiting[:] = [(k, s) for k, s in _waiting if not (key is None or k == key)]
    for started in waiting:
        started.discard()


atexit.register(discard)
