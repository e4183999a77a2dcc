"""One memory cgroup per candidate, where this machine lets us make one: every process the program forks
shares one memory bound.

Why: rlimits are per process. RLIMIT_AS bounds one process's address space, but a program may fork up to
RLIMIT_NPROC processes, each with its own RLIMIT_AS, and pages in a tmpfs, a memfd or a pipe belong to no
address space at all. A memory cgroup counts all of them (anonymous memory, tmpfs and page cache, the kernel
memory it charges) for every process in it, whatever they fork. So each candidate runs in its own cgroup
with ``memory_bytes`` as the limit of all its processes together, and ``processes`` (plus bubblewrap's two
processes) as its pids limit; the cgroup is removed when the check ends.

Where: cgroup v2 (``memory.max``, ``pids.max``) when the v2 hierarchy delegates the memory controller to a
cgroup we may create children in; else cgroup v1 (``memory.limit_in_bytes``, plus ``memory.memsw.limit_in_bytes``
when swap is accounted, and ``pids.max`` from the v1 pids hierarchy). Both are probed once, by creating and
removing a cgroup. Without either (no root, a read-only ``/sys/fs/cgroup``, no memory controller) the sandbox
falls back to rlimits alone and ``memory.describe`` logs that bound instead.

No library: the standard cgroup tools (cgcreate, systemd-run) are not installed in the containers this runs
in, and both need more privileges than writing these files does. The process joins its cgroup through a tiny
``/bin/sh`` wrapper that writes its own pid into ``cgroup.procs`` and then ``exec``s the sandbox, so even the
first process bubblewrap forks is inside (``preexec_fn`` would do the same, but is unsafe in a process with
threads, and the checker runs programs from a thread pool).
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import signal
import time
from dataclasses import dataclass

log = logging.getLogger("boostlora_plugins.code")

PREFIX = "boostlora-"
EXTRA_PIDS = 3  # bubblewrap's own process and its pid-namespace init, besides the program's ``processes``
_names = itertools.count()
_ATTEMPTS = 205  # with ``_pause``: about 2 seconds for the last processes to leave before giving up


def _pause(attempt: int) -> None:
    """Wait before looking again: 0.25 ms, doubling up to 10 ms. The bubblewrap processes of a finished candidate
    are usually gone within a millisecond of its exit; a flat 10 ms wait cost every check 10 ms."""
    time.sleep(min(0.00025 * 2 ** attempt, 0.01))


# Joins the cgroups given before ``--`` (its own pid: ``exec`` keeps it), then becomes the command after ``--``.
_JOIN = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


@dataclass(frozen=True)
class Support:
    """Where candidate cgroups are made: ``version`` 1 or 2, the parent directory of the memory cgroups and of
    the pids cgroups (the same directory under v2; None when v1 has no pids hierarchy), and whether v1 accounts
    swap (``memory.memsw.limit_in_bytes``)."""

    version: int
    memory_parent: str
    pids_parent: str | None
    memsw: bool = False

    @property
    def name(self) -> str:
        return f"cgroup v{self.version}"

    def describe(self, processes: int) -> str:
        """The cgroup files that hold the bound, and the pids limit."""
        limit = "memory.max" if self.version == 2 else "memory.limit_in_bytes" + (" and memsw" if self.memsw else "")
        pids = f"pids.max {processes + EXTRA_PIDS}" if self.pids_parent else "no pids controller"
        return f"{limit}, {pids}"


def _mounts() -> list[tuple[str, str, list[str]]]:
    """(mount point, file system type, super options) of every cgroup mount."""
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            dash = fields.index("-")
            fstype, options = fields[dash + 1], fields[dash + 3].split(",")
            if fstype in ("cgroup", "cgroup2"):
                found.append((fields[4], fstype, options))
    return found


def _own_paths() -> dict[str, str]:
    """This process's cgroup per v1 controller (``memory``, ``pids``) and per v2 (key ``""``)."""
    paths = {}
    with open("/proc/self/cgroup") as fh:
        for line in fh:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
    return paths


def _write(path: str, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _try_make(parent: str, files: dict[str, str]) -> None:
    """Create a cgroup in ``parent``, write ``files`` into it and remove it: OSError when any step is refused."""
    path = os.path.join(parent, f"{PREFIX}probe-{os.getpid()}")
    os.mkdir(path)
    try:
        for name, value in files.items():
            _write(os.path.join(path, name), value)
    finally:
        os.rmdir(path)


def _v2(mounts, paths) -> Support | str:
    mount = next((m for m, fstype, _ in mounts if fstype == "cgroup2"), None)
    if mount is None:
        return "no cgroup v2 hierarchy"
    parent = os.path.normpath(os.path.join(mount, paths.get("", "/").lstrip("/")))
    try:
        with open(os.path.join(parent, "cgroup.controllers")) as fh:
            controllers = fh.read().split()
    except OSError as exc:
        return f"cgroup v2 at {parent} unreadable ({type(exc).__name__})"
    if "memory" not in controllers:
        return f"cgroup v2 at {mount} has no memory controller"
    try:
        with open(os.path.join(parent, "cgroup.subtree_control")) as fh:
            enabled = fh.read().split()
        if "memory" not in enabled or "pids" not in enabled:
            _write(os.path.join(parent, "cgroup.subtree_control"), "+memory +pids")
        _try_make(parent, {"memory.max": str(1 << 30), "pids.max": "64"})
    except OSError as exc:
        return f"cannot create a cgroup v2 memory cgroup in {parent} ({type(exc).__name__}: {exc.strerror or exc})"
    return Support(2, parent, parent)


def _v1(mounts, paths) -> Support | str:
    def parent_of(controller):
        mount = next((m for m, fstype, options in mounts if fstype == "cgroup" and controller in options), None)
        return None if mount is None else os.path.normpath(os.path.join(mount, paths.get(controller, "/").lstrip("/")))

    memory = parent_of("memory")
    if memory is None:
        return "no cgroup v1 memory hierarchy"
    memsw = os.path.exists(os.path.join(memory, "memory.memsw.limit_in_bytes"))
    pids = parent_of("pids")
    try:
        files = {"memory.limit_in_bytes": str(1 << 30)}
        if memsw:
            files["memory.memsw.limit_in_bytes"] = str(1 << 30)
        _try_make(memory, files)
        if pids is not None:
            _try_make(pids, {"pids.max": "64"})
    except OSError as exc:
        return f"cannot create a cgroup v1 memory cgroup in {memory} ({type(exc).__name__}: {exc.strerror or exc})"
    return Support(1, memory, pids, memsw)


def _remove_stale(support: Support) -> None:
    """Remove empty cgroups of earlier runs whose process is gone (a run killed before its cleanup)."""
    for parent in {support.memory_parent, support.pids_parent} - {None}:
        try:
            entries = os.listdir(parent)
        except OSError:
            continue
        for entry in entries:
            owner = entry[len(PREFIX):].split("-", 1)[0]
            if entry.startswith(PREFIX) and owner.isdigit() and not os.path.exists(f"/proc/{owner}"):
                try:
                    os.rmdir(os.path.join(parent, entry))
                except OSError:
                    pass


@functools.lru_cache(maxsize=None)
def probe() -> Support | str:
    """The cgroup support of this machine, or the reason there is none (never an exception); probed once."""
    if not os.access("/bin/sh", os.X_OK):
        return "no /bin/sh to join a cgroup with"
    try:
        mounts, paths = _mounts(), _own_paths()
    except (OSError, ValueError, IndexError) as exc:
        return f"cgroups unreadable ({type(exc).__name__})"
    reasons = []
    for attempt in (_v2, _v1):
        found = attempt(mounts, paths)
        if isinstance(found, Support):
            _remove_stale(found)
            return found
        reasons.append(found)
    return "; ".join(reasons)


class CandidateCgroup:
    """The cgroup(s) of one candidate: made with its limits, joined by its first process, emptied and removed."""

    def __init__(self, support: Support, memory_bytes: int, processes: int) -> None:
        self.support = support
        name = f"{PREFIX}{os.getpid()}-{next(_names)}"
        self.memory = os.path.join(support.memory_parent, name)
        self.pids = os.path.join(support.pids_parent, name) if support.pids_parent else None
        made = []
        try:
            for path in dict.fromkeys(p for p in (self.memory, self.pids) if p):
                os.mkdir(path)
                made.append(path)
            if support.version == 2:
                _write(os.path.join(self.memory, "memory.max"), str(memory_bytes))
                self._write_optional(self.memory, "memory.swap.max", "0")
            else:
                _write(os.path.join(self.memory, "memory.limit_in_bytes"), str(memory_bytes))
                if support.memsw:
                    _write(os.path.join(self.memory, "memory.memsw.limit_in_bytes"), str(memory_bytes))
            if self.pids:
                _write(os.path.join(self.pids, "pids.max"), str(processes + EXTRA_PIDS))
        except OSError:
            for path in reversed(made):
                os.rmdir(path)
            raise
        self.directories = made

    @staticmethod
    def _write_optional(directory: str, name: str, value: str) -> None:
        if os.path.exists(os.path.join(directory, name)):
            _write(os.path.join(directory, name), value)

    def wrap(self, command: list[str]) -> list[str]:
        """``command`` started inside this cgroup (every process it forks stays inside)."""
        procs = [os.path.join(path, "cgroup.procs") for path in self.directories]
        return ["/bin/sh", "-c", _JOIN, "sh", *procs, "--", *command]

    def _read(self, name: str) -> str:
        try:
            with open(os.path.join(self.memory, name)) as fh:
                return fh.read()
        except OSError:
            return ""

    def peak(self) -> int | None:
        """The most memory its processes held at once, in bytes (None where the kernel does not say)."""
        text = self._read("memory.peak" if self.support.version == 2 else "memory.max_usage_in_bytes").strip()
        return int(text) if text.isdigit() else None

    def out_of_memory(self) -> bool:
        """Whether the kernel killed one of its processes for the memory limit."""
        events = self._read("memory.events" if self.support.version == 2 else "memory.oom_control")
        counts = dict(line.split()[:2] for line in events.splitlines() if len(line.split()) >= 2)
        return counts.get("oom_kill", "0") not in ("0", "")

    def processes(self) -> list[int]:
        pids = []
        for path in self.directories:
            try:
                with open(os.path.join(path, "cgroup.procs")) as fh:
                    pids += [int(p) for p in fh.read().split()]
            except (OSError, ValueError):
                pass
        return sorted(set(pids))

    def kill(self) -> bool:
        """SIGKILL everything still in it, until it is empty. True when something was left."""
        left = False
        for attempt in range(_ATTEMPTS):
            pids = self.processes()
            if not pids:
                return left
            left = True
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            _pause(attempt)
        return left

    def remove(self) -> None:
        """Kill what is left and remove the cgroup directories (the kernel needs a moment after the last exit)."""
        self.kill()
        for path in reversed(self.directories):
            for attempt in range(_ATTEMPTS):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if attempt == _ATTEMPTS - 1:
                        log.warning("code sandbox: could not remove cgroup %s", path)
                    _pause(attempt)
