"""Resource limits of one sandboxed program, and the names of the limits that can stop it.

The names are what a verdict records, so a report can tell "too slow" from "tried the network" from
"ran out of memory": the failure set of a boosting round should not look the same for all three.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from boostlora import ConfigError

# What stopped a program. Host-side limits (enforced by the checker that waits for the program):
WALL_TIME = "wall_time"  # ran past the wall-clock timeout; the whole process group was killed
OUTPUT = "output"  # wrote more than the output cap to stdout/stderr
STRAY_PROCESSES = "stray_processes"  # left processes running after it finished
# Kernel-enforced rlimits:
CPU_TIME = "cpu_time"  # RLIMIT_CPU
MEMORY = "memory"  # RLIMIT_AS (Python raises MemoryError) or the program's memory cgroup (the kernel kills it)
FILE_SIZE = "file_size"  # RLIMIT_FSIZE or the size of the throw-away working directory
PROCESSES = "processes"  # RLIMIT_NPROC or the cgroup's pids.max (fork or thread creation refused)
# Isolation:
NETWORK = "network"  # no network in the sandbox
READ_ONLY = "read_only_fs"  # wrote outside the working directory
HIDDEN_PATH = "hidden_path"  # touched a hidden directory (home directories, the host's /tmp)
PERMISSION = "permission"  # the kernel refused (signalling processes it does not own, say)
PROCESS_ISOLATION = "process_isolation"  # signalled a process it cannot see (pid namespace)

ALL_LIMITS = (
    WALL_TIME, OUTPUT, STRAY_PROCESSES, CPU_TIME, MEMORY, FILE_SIZE, PROCESSES,
    NETWORK, READ_ONLY, HIDDEN_PATH, PERMISSION, PROCESS_ISOLATION,
)

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Per-program budget. Defaults fit HumanEval/MBPP: correct solutions take well under a second."""

    wall_seconds: float = 10.0
    cpu_seconds: int = 10
    memory_bytes: int = 1024 * MiB
    file_size_bytes: int = 16 * MiB
    workdir_bytes: int = 64 * MiB
    processes: int = 32
    output_bytes: int = 1 * MiB
    open_files: int = 64  # RLIMIT_NOFILE: with file_size_bytes, it bounds memory held in memfds and pipes

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"sandbox limit {f.name} must be a positive number, got {value!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> Limits:
        """Limits from a task option mapping; unknown keys are refused by name."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown sandbox limit(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def per_descriptor_bytes(self) -> int:
        """The most one open descriptor can hold: a memfd or file of at most RLIMIT_FSIZE, or a full pipe."""
        return max(self.file_size_bytes, PIPE_MAX_BYTES)

    def memory_bound(self) -> int:
        """Bytes one program can hold in memory through every channel the rlimits leave open, under bwrap, when no
        cgroup bounds it (``memory.py``).

        Rlimits are per process and RLIMIT_NPROC caps the processes (each program has its own uid): each of
        ``processes`` processes holds anonymous memory and mappings up to RLIMIT_AS, and data in memfds and pipes
        only while a descriptor or a mapping keeps it (RLIMIT_NOFILE descriptors of at most RLIMIT_FSIZE bytes
        each; a pipe holds at most its 1 MiB maximum buffer); files in the two writable tmpfs mounts (/tmp and
        /dev/shm) are capped by their size, once for all processes."""
        per_process = self.memory_bytes + self.open_files * self.per_descriptor_bytes()
        return int(self.processes * per_process + 2 * self.workdir_bytes)


PIPE_MAX_BYTES = 1 * MiB  # /proc/sys/fs/pipe-max-size, the default ceiling of F_SETPIPE_SZ without privilege
