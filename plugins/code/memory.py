"""Which bound holds the memory of one sandboxed program, and by which mechanism, said once in the log.

RLIMIT_AS alone does not bound memory: it is per process, and a memfd, a pipe or a file in a tmpfs holds
pages that no address space counts. Two mechanisms make a bound that holds whatever the program forks:

``cgroup``   (``cgroup.py``) where this machine lets us create a memory cgroup: all processes of one program
             share ``memory_bytes`` (anonymous memory, tmpfs files, page cache and the kernel memory charged
             to them), and its pids limit caps how many there are.
``rlimits``  otherwise: each program runs as its own uid (as root), so RLIMIT_NPROC caps its processes and
             the bound is ``processes`` x the per-process bound (``Limits.memory_bound``): RLIMIT_AS for
             anonymous memory and mappings, RLIMIT_NOFILE x max(RLIMIT_FSIZE, pipe buffer) for memfds and
             pipes, plus the two size-capped tmpfs mounts for files and, under bubblewrap, a seccomp filter
             that refuses System V shared memory, the one channel none of these count. True, but large: it
             grows with ``processes``; lower ``processes`` or ``memory_bytes`` to tighten it.

The line logged says which one is in force and the bound in MiB; ``mechanism`` gives the short name that the
task records in its metrics (``sandbox_memory``).
"""

from __future__ import annotations

import functools
import logging

from . import cgroup
from .limits import Limits

log = logging.getLogger("boostlora_plugins.code")
MiB = 1024 * 1024


def mechanism(support: cgroup.Support | str) -> str:
    """``cgroup v1``, ``cgroup v2`` or ``rlimits``: what bounds a program's memory with ``support``."""
    return support.name if isinstance(support, cgroup.Support) else "rlimits"


def bound(limits: Limits, support: cgroup.Support | str) -> int:
    """Bytes all processes of one program can hold together under ``support`` (a cgroup, else rlimits only)."""
    return limits.memory_bytes if isinstance(support, cgroup.Support) else limits.memory_bound()


def describe(limits: Limits, isolation_name: str, support: cgroup.Support | str | None = None) -> str:
    """One line: the mechanism and the bound in force for ``limits`` under ``isolation_name``."""
    support = cgroup.probe() if support is None else support
    if isinstance(support, cgroup.Support):
        return (f"memory bound: {support.name}, at most {bound(limits, support) // MiB} MiB per program, all its "
                f"processes together (anonymous memory, tmpfs files, pipes, page cache; {support.describe(limits.processes)}); "
                f"RLIMIT_AS {limits.memory_bytes // MiB} MiB per process")
    per_process = limits.memory_bytes + limits.open_files * limits.per_descriptor_bytes()
    if isolation_name != "bwrap":
        return (f"memory bound: rlimits, at most {limits.processes * per_process // MiB} MiB per program in processes = "
                f"RLIMIT_NPROC {limits.processes} processes x (RLIMIT_AS {limits.memory_bytes // MiB} MiB + "
                f"{limits.open_files} descriptors x {limits.per_descriptor_bytes() // MiB} MiB); files in the "
                f"host's /tmp and /dev/shm are NOT bounded under {isolation_name} (no mount namespace); no cgroup: {support}")
    return (f"memory bound: rlimits, at most {limits.memory_bound() // MiB} MiB per program = RLIMIT_NPROC "
            f"{limits.processes} processes x (RLIMIT_AS {limits.memory_bytes // MiB} MiB + {limits.open_files} descriptors "
            f"(RLIMIT_NOFILE) x {limits.per_descriptor_bytes() // MiB} MiB (RLIMIT_FSIZE, pipe buffers)) + 2 tmpfs x "
            f"{limits.workdir_bytes // MiB} MiB (/tmp, /dev/shm); System V shm refused by seccomp; no cgroup: {support}")


@functools.lru_cache(maxsize=None)
def log_once(limits: Limits, isolation_name: str, support: cgroup.Support | str | None = None) -> str:
    line = describe(limits, isolation_name, support)
    log.info("code sandbox %s", line)
    return line
