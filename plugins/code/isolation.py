"""Which isolation the sandbox can use on this machine, and the command line that applies it.

Three levels, strongest first:

``bwrap``    bubblewrap: new pid, network, IPC and UTS namespaces; the whole file system read-only; home
             directories and the host's /tmp hidden; a size-capped tmpfs as the working directory; the
             sandbox dies with its parent. Needs the ``bubblewrap`` package and either root or
             unprivileged user namespaces.
``unshare``  the fallback: a new network namespace (util-linux ``unshare``) plus rlimits and a throw-away
             host directory. The file system is protected only by Unix permissions, which is why root
             drops to an unused uid inside.
``rlimits``  rlimits and the process group only: no network or file-system isolation. Never picked
             automatically; a user must ask for it by name.

Each level is probed once by actually running Python through it (a container may ship ``bwrap`` while
forbidding the namespaces it needs), and the level in force is logged once.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from boostlora import ConfigError

log = logging.getLogger("boostlora_plugins.code")

LEVELS = ("auto", "bwrap", "unshare", "rlimits")
WORKDIR = "/tmp"  # the sandbox's working directory under bwrap
_HIDDEN_CANDIDATES = ("/home", "/root", "/tmp", "/var/tmp", "/run", "/mnt", "/media", "/srv")


def _hidden_roots() -> tuple[str, ...]:
    """Directories the sandbox must not see: home directories (keys, tokens) and the host's scratch space."""
    candidates = list(_HIDDEN_CANDIDATES) + [os.path.expanduser("~")]
    roots: list[str] = []
    for path in candidates:
        path = os.path.realpath(path)
        if path != "/" and os.path.isdir(path) and path not in roots:
            roots.append(path)
    return tuple(r for r in roots if not any(r != o and r.startswith(o + "/") for o in roots))


def _python_paths() -> list[str]:
    """What the interpreter needs to start, so it can be re-exposed when it lives under a hidden directory."""
    paths = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)), os.path.dirname(sys.executable)}
    paths = {os.path.realpath(p) for p in paths}
    return sorted(p for p in paths if not any(p.startswith(q + "/") for q in paths))  # a bound parent covers it


def _stdlib_readable_by_others() -> bool:
    """Whether every directory above the standard library lets other users through (pyenv under /root does not)."""
    path = Path(os.__file__).resolve().parent
    for directory in [path, *path.parents]:
        try:
            if not directory.stat().st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class Isolation:
    """A way of running the runner: ``command`` gives the command line, ``workdir`` where it starts."""

    name: str
    description: str
    pid_namespace: bool
    hidden: tuple[str, ...] = ()
    drops_root: bool = False

    @property
    def pin_import_paths(self) -> bool:
        """Whether the runner must open the import directories before dropping root (see runner.py)."""
        return self.drops_root and not self.pid_namespace and not _stdlib_readable_by_others()

    def command(self, python: str, runner_source: str, workdir_bytes: int) -> list[str]:
        runner = [python, "-I", "-S", "-c", runner_source]
        if self.name == "bwrap":
            return _bwrap_prefix(self.hidden, workdir_bytes) + runner
        if self.name == "unshare":
            return _unshare_prefix() + runner
        return runner

    def workdir(self, uid: int | None) -> tuple[str, str | None]:
        """The host directory to start in, and the one to delete afterwards (None under bwrap: tmpfs)."""
        if self.name == "bwrap":
            return "/", None
        path = tempfile.mkdtemp(prefix="boostlora-code-")
        if uid is not None:
            os.chown(path, uid, uid)
        return path, path


def _bwrap_prefix(hidden: tuple[str, ...], workdir_bytes: int) -> list[str]:
    cmd = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for root in hidden:
        if root == WORKDIR:
            cmd += ["--perms", "01777", "--size", str(int(workdir_bytes)), "--tmpfs", root]
        else:
            cmd += ["--tmpfs", root]
    made: set[str] = set()
    for path in _python_paths():
        root = next((r for r in hidden if path.startswith(r + "/")), None)
        if root is None:
            continue
        parts = Path(path).relative_to(root).parts
        for i in range(1, len(parts)):
            parent = os.path.join(root, *parts[:i])
            if parent not in made:
                made.add(parent)
                cmd += ["--perms", "0755", "--dir", parent]
        cmd += ["--ro-bind", path, path]
    if WORKDIR not in hidden:
        cmd += ["--perms", "01777", "--size", str(int(workdir_bytes)), "--tmpfs", WORKDIR]
    cmd += ["--chdir", WORKDIR, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() == 0:
        # Root needs no user namespace; keep only what the runner needs to drop to an unused uid.
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        cmd += ["--unshare-user"]
    return cmd + ["--die-with-parent", "--new-session", "--"]


def _unshare_prefix() -> list[str]:
    if os.geteuid() == 0:
        return ["unshare", "--net", "--"]
    return ["unshare", "--user", "--map-root-user", "--net", "--"]


def _works(isolation: Isolation) -> tuple[bool, str]:
    """Run a trivial program through ``isolation``; a missing binary or a refused namespace shows up here."""
    binary = {"bwrap": "bwrap", "unshare": "unshare"}.get(isolation.name)
    if binary and shutil.which(binary) is None:
        return False, f"{binary} is not installed"
    probe = "import socket\ntry:\n    socket.create_connection(('192.0.2.1', 9), timeout=0.5)\nexcept OSError:\n    print('ok')\n"
    cwd, cleanup = isolation.workdir(None)
    try:
        done = subprocess.run(
            isolation.command(sys.executable, probe, 1 << 20), cwd=cwd, capture_output=True, text=True, timeout=30,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    finally:
        if cleanup:
            shutil.rmtree(cleanup, ignore_errors=True)
    if done.returncode != 0 or done.stdout.strip() != "ok":
        return False, (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
    return True, ""


def _candidate(name: str) -> Isolation:
    root = os.geteuid() == 0
    if name == "bwrap":
        hidden = _hidden_roots()
        return Isolation(
            "bwrap",
            "bubblewrap: new pid/network/IPC namespaces, read-only file system, hidden "
            f"{', '.join(hidden)}, size-capped tmpfs working directory, rlimits"
            + (", runs as an unused uid" if root else ", user namespace"),
            pid_namespace=True, hidden=hidden, drops_root=root,
        )
    if name == "unshare":
        return Isolation(
            "unshare",
            "FALLBACK rlimits + new network namespace (unshare) + throw-away directory; the file system is NOT "
            "mounted read-only (Unix permissions only" + (", as an unused uid)" if root else ")")
            + " and there is no pid namespace",
            pid_namespace=False, drops_root=root,
        )
    if name == "rlimits":
        return Isolation(
            "rlimits",
            "WEAK rlimits and process group only: the program can reach the network and the file system"
            + (" (as an unused uid)" if root else " as this user"),
            pid_namespace=False, drops_root=root,
        )
    raise ConfigError(f"unknown sandbox isolation '{name}' (use one of {', '.join(LEVELS)})")


@functools.lru_cache(maxsize=None)
def select(level: str = "auto") -> Isolation:
    """The isolation to use for ``level``, probed once per process and logged once; ConfigError if unusable."""
    if level not in LEVELS:
        raise ConfigError(f"unknown sandbox isolation '{level}' (use one of {', '.join(LEVELS)})")
    order = ["bwrap", "unshare"] if level == "auto" else [level]
    reasons = []
    for name in order:
        isolation = _candidate(name)
        ok, why = _works(isolation) if name != "rlimits" else (True, "")
        if ok:
            (log.info if name == "bwrap" else log.warning)("code sandbox isolation: %s", isolation.description)
            return isolation
        reasons.append(f"{name}: {why}")
    raise ConfigError(
        "no working sandbox for model-written code (" + "; ".join(reasons) + "): install bubblewrap "
        "(apt-get install bubblewrap) or allow user namespaces, or accept weak isolation with sandbox_isolation=rlimits"
    )
