"""Which isolation the sandbox can use on this machine, and the command line that applies it.

Three levels, strongest first:

``bwrap``    bubblewrap: new pid, network, IPC and UTS namespaces; a file system that holds only what the
             interpreter needs, read-only: ``/usr`` and the Python installation, with every site-packages
             and dist-packages directory covered by an empty mount (so no installed package, dataset,
             checkout or home directory is visible); size-capped tmpfs at ``/tmp`` (the working
             directory) and ``/dev/shm``; the sandbox dies with its parent. Without root it runs in a
             user namespace and ``--disable-userns`` forbids nested ones; bubblewrap offers that switch
             only together with its own user namespace, which as root would map the program to host root,
             so as root the program instead drops to an unused uid (no capabilities anywhere). Needs the
             ``bubblewrap`` package and either root or unprivileged user namespaces.
``unshare``  the fallback, only when named: a new network namespace (util-linux ``unshare``) plus rlimits and a throw-away
             host directory. The file system is protected only by Unix permissions, which is why root
             drops to an unused uid inside.
``rlimits``  rlimits and the process group only: no network or file-system isolation. Never picked
             automatically; a user must ask for it by name.

Each level is probed once by actually running Python through it (a container may ship ``bwrap`` while
forbidding the namespaces it needs), and the level in force is logged once. ``auto`` (the default) means
``bwrap``: where it does not work the run stops with the reason and ``apt-get install bubblewrap``; the
fallbacks run only when named (``sandbox_isolation=unshare`` or ``rlimits``).
"""

from __future__ import annotations

import functools
import glob
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from boostlora import ConfigError

from . import seccomp

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


def sandbox_python() -> str:
    """The base interpreter behind ``sys.executable``: a virtual environment's ``python`` is a link to it, and
    the environment itself (its site-packages) stays outside the sandbox."""
    return os.path.realpath(sys.executable)


def python_home() -> str:
    """The installation the sandbox shows: the interpreter's prefix (``bin``, ``lib``), or ``/usr``."""
    return os.path.realpath(sys.base_prefix)


_SHOWN = ("/usr",)  # besides the Python installation; /bin, /lib, /lib64 and /sbin follow as links or binds


def _package_dirs(roots: list[str]) -> list[str]:
    """Every site-packages / dist-packages directory under the shown roots: covered by empty mounts."""
    found = set()
    for root in roots:
        for pattern in ("lib/python3*/*-packages", "lib/python3/*-packages", "local/lib/python3*/*-packages",
                        "lib64/python3*/*-packages"):
            found.update(os.path.realpath(p) for p in glob.glob(os.path.join(root, pattern)) if os.path.isdir(p))
    return sorted(p for p in found if p.endswith(("site-packages", "dist-packages")))


def _not_shown(shown: list[str]) -> tuple[str, ...]:
    """The top-level host directories the sandbox does not show (for naming a ``hidden_path`` limit), plus the
    package directories it covers."""
    tops = [f"/{e}" for e in sorted(os.listdir("/")) if e not in ("proc", "dev", "tmp")]
    tops = [p for p in tops if os.path.isdir(p) and not os.path.islink(p) and p not in shown]
    return tuple(tops) + tuple(_package_dirs(shown))


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
    """A way of running the program's harness: ``command`` gives the command line, ``workdir`` where it starts."""

    name: str
    description: str
    pid_namespace: bool
    hidden: tuple[str, ...] = ()
    drops_root: bool = False

    @property
    def pin_import_paths(self) -> bool:
        """Whether the harness must open the import directories before dropping root (see callee.py)."""
        return self.drops_root and not self.pid_namespace and not _stdlib_readable_by_others()

    def command(self, python: str, runner_source: str, workdir_bytes: int, seccomp_fd: int | None = None) -> list[str]:
        """The command line; under bwrap ``seccomp_fd`` (see ``seccomp.py``) is installed as the filter."""
        runner = [python, "-I", "-S", "-c", runner_source]
        if self.name == "bwrap":
            extra = ["--seccomp", str(seccomp_fd)] if seccomp_fd is not None else []
            return _bwrap_prefix(workdir_bytes, extra) + runner
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


def _shown_roots() -> list[str]:
    home = python_home()
    return sorted({*_SHOWN, home} if not any(home == r or home.startswith(r + "/") for r in _SHOWN) else set(_SHOWN))


def _bwrap_prefix(workdir_bytes: int, extra: list[str] | None = None) -> list[str]:
    shown = _shown_roots()
    cmd = ["bwrap"]
    made: set[str] = set()
    for root in shown:
        parts = Path(root).parts
        for i in range(2, len(parts)):  # parents bwrap would create closed (0700): open them to the unused uid
            parent = os.path.join(*parts[:i])
            if parent not in made:
                made.add(parent)
                cmd += ["--perms", "0755", "--dir", parent]
        cmd += ["--ro-bind", root, root]
    for top in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(top):
            cmd += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            cmd += ["--ro-bind", top, top]
    cmd += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    for packages in _package_dirs(shown):
        cmd += ["--perms", "0555", "--size", "4096", "--tmpfs", packages, "--remount-ro", packages]
    cmd += ["--dev", "/dev", "--proc", "/proc"]
    for scratch in ("/dev/shm", WORKDIR):  # the only writable places, each capped: memory through files is bounded
        cmd += ["--perms", "01777", "--size", str(int(workdir_bytes)), "--tmpfs", scratch]
    cmd += ["--remount-ro", "/", "--chdir", WORKDIR,
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() == 0:
        # Root needs no user namespace; keep only what the harness needs to drop to an unused uid.
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        cmd += ["--unshare-user", "--disable-userns"]
    return cmd + (extra or []) + ["--die-with-parent", "--new-session", "--"]


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
            isolation.command(sandbox_python(), probe, 1 << 20), cwd=cwd, capture_output=True, text=True, timeout=30,
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
        shown = _shown_roots()
        hidden = _not_shown(shown)
        return Isolation(
            "bwrap",
            "bubblewrap: new pid/network/IPC namespaces; shows only "
            f"{', '.join(shown)} read-only, without site-/dist-packages; size-capped tmpfs /tmp and /dev/shm; rlimits"
            + (", runs as an unused uid" if root else ", user namespace")
            + (", seccomp: no nested user namespaces or System V shared memory" if seccomp.supported()
               else f", no seccomp filter for {platform.machine()}: nested user namespaces "
               + ("disabled by bwrap" if not root else "possible")),
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
    """The isolation to use for ``level``, probed once per process and logged once; ConfigError if unusable.

    Secure by default: ``auto`` means bubblewrap and nothing weaker. Where bubblewrap does not work the run stops
    (before any model loads) with the reason and the install command; the weaker levels run only when named."""
    if level not in LEVELS:
        raise ConfigError(f"unknown sandbox isolation '{level}' (use one of {', '.join(LEVELS)})")
    name = "bwrap" if level == "auto" else level
    isolation = _candidate(name)
    ok, why = _works(isolation) if name != "rlimits" else (True, "")
    if ok:
        (log.info if name == "bwrap" else log.warning)("code sandbox isolation: %s", isolation.description)
        return isolation
    why = " ".join(why.split())[:200] or "it did not run"
    if name == "bwrap":
        raise ConfigError(
            f"no working sandbox for model-written code (bwrap: {why}): sandbox_isolation={level} needs bubblewrap; "
            "install bubblewrap (apt-get install bubblewrap) and allow unprivileged user namespaces, or name a weaker "
            "isolation explicitly: sandbox_isolation=unshare (no mount or pid namespace) or sandbox_isolation=rlimits (none)"
        )
    raise ConfigError(
        f"no working sandbox for model-written code ({name}: {why}): install bubblewrap (apt-get install bubblewrap) "
        "and use sandbox_isolation=auto, or accept weak isolation with sandbox_isolation=rlimits"
    )
