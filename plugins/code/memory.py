"""Which bound holds the memory of one sandboxed program, said once in the log.

RLIMIT_AS alone does not bound memory: a memfd, a pipe or a file in a tmpfs holds pages that no mapping
counts. A cgroup v2 ``memory.max`` would count them all, but it needs a memory controller delegated to a
cgroup this process may create children in, which containers rarely grant; this module only detects it and
says why it is not used. The bound in force is the sum of the limits that together cover every channel
(``Limits.memory_bound``): RLIMIT_AS for anonymous memory and mappings, RLIMIT_NOFILE x RLIMIT_FSIZE for
memfds and pipes (a pipe holds at most 1 MiB), the two size-capped tmpfs mounts for files, and, under
bubblewrap, a seccomp filter that refuses System V shared memory, the one channel none of these count.
"""

from __future__ import annotations

import functools
import logging
import os

from .limits import Limits

log = logging.getLogger("boostlora_plugins.code")
MiB = 1024 * 1024


def cgroup_v2_memory() -> str:
    """Why a cgroup v2 memory limit is not in force here (the reason, never an exception)."""
    try:
        mounts = [line.split() for line in open("/proc/self/mountinfo")]
        mount = next((m[4] for m in mounts if "cgroup2" in m[m.index("-") + 1:m.index("-") + 2]), None)
        if mount is None:
            return "no cgroup v2 hierarchy is mounted"
        entry = next((line.strip()[3:] for line in open("/proc/self/cgroup") if line.startswith("0::")), None)
        path = os.path.join(mount, (entry or "/").lstrip("/"))
        controllers = open(os.path.join(path, "cgroup.controllers")).read().split()
    except (OSError, ValueError, IndexError) as exc:
        return f"cgroup v2 unreadable ({type(exc).__name__})"
    if "memory" not in controllers:
        return f"the cgroup v2 hierarchy at {mount} has no memory controller (controllers: {' '.join(controllers) or 'none'})"
    return "a cgroup v2 memory controller exists but is not delegated to sandbox runs (not implemented)"


def describe(limits: Limits, isolation_name: str) -> str:
    """One line: the bound in force for ``limits`` under ``isolation_name``."""
    if isolation_name != "bwrap":
        return (f"memory bound: RLIMIT_AS {limits.memory_bytes // MiB} MiB and {limits.open_files} descriptors x "
                f"{limits.file_size_bytes // MiB} MiB; files in the host's /tmp and /dev/shm are NOT bounded under "
                f"{isolation_name} (no mount namespace); cgroup: {cgroup_v2_memory()}")
    return (f"memory bound: rlimits, at most {limits.memory_bound() // MiB} MiB per program = RLIMIT_AS "
            f"{limits.memory_bytes // MiB} MiB + {limits.open_files} descriptors (RLIMIT_NOFILE) x "
            f"{max(limits.file_size_bytes, MiB) // MiB} MiB (RLIMIT_FSIZE, pipe buffers) + 2 tmpfs x "
            f"{limits.workdir_bytes // MiB} MiB (/tmp, /dev/shm); System V shm refused by seccomp; "
            f"cgroup: {cgroup_v2_memory()}")


@functools.lru_cache(maxsize=None)
def log_once(limits: Limits, isolation_name: str) -> str:
    line = describe(limits, isolation_name)
    log.info("code sandbox %s", line)
    return line
