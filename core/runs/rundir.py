"""One writer per run directory, checked before anything loads; nothing removed that boostlora did not write.

A run directory is claimed before the model or the data load. The path must be (or become) a directory this
process can write, and an advisory ``fcntl.flock`` on its ``.lock`` file is held for the whole run, so a second
run on the same ``--out`` stops at once instead of interleaving its files with the first one's. The kernel drops
the lock when its holder dies, however it dies, so a killed run never blocks its own resume; the PID written
into the file only serves the message.

Every decision about the directory's contents is taken while the lock is held, and a process removes a lock
file only while it holds that very file: two starts that race for a missing directory end with one holding it
and the other stopping, never with the loser deleting the winner's lock. The lock is opened with ``O_NOFOLLOW``,
so a symbolic link planted as ``.lock`` is refused rather than written through.

A run directory is marked by ``.boostlora-run`` (created exclusively at claim time), which lists the names
boostlora writes there. A fresh start refuses a non-empty directory without that marker (a user's folder,
another tool's output) unless ``--overwrite`` is given, and even then replaces only entries with boostlora's
names; nothing outside the marker's list is ever removed. A fresh start that fails before its first checkpoint
removes what it wrote, so no SVD cache or config of a run that never began is left for a later run to trip over.

While it runs, a run checks before each save that its directory is still the one it claimed (same device and
inode): one removed or replaced under it stops the run instead of being silently recreated.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shlex
import shutil
from pathlib import Path

from boostlora.foundation.errors import ConfigError, RunDirBusy, RunDirError
from boostlora.foundation.faults import fault_point
from boostlora.runs import checkpoint as ckpt

LOCK = ".lock"
#: The marker of a run directory: created exclusively when a start claims the directory.
MARKER = ".boostlora-run"
#: Files a start writes before its first checkpoint, removed again when that start fails.
START_FILES = (ckpt.CONFIG, ckpt.SVD_CACHE, ckpt.REPORT)
#: Everything boostlora writes in a run directory, as the marker lists it: the only names it ever removes.
OWNED = (MARKER, LOCK, *START_FILES, ckpt.CHECKPOINT, ckpt.FINAL, ckpt.FINAL + ckpt.TMP_SUFFIX, ckpt.PREDICTIONS)
#: How many of a foreign directory's entries a refusal names.
SHOWN = 5

#: (st_dev, st_ino) of each directory this process has claimed, by absolute path: what ``check_claimed`` compares.
_claimed: dict[str, tuple[int, int]] = {}


def resume_hint(run_dir: Path) -> str:
    """The command that resumes ``run_dir``, quoted for a POSIX shell (a path may hold spaces or quotes)."""
    return f"resume with: boostlora run --resume {shlex.quote(str(run_dir))}"


def interrupted_message(run_dir: Path | None, rounds_done: int | None = None, signal_name: str | None = None) -> str:
    """What an interruption (Ctrl-C, or the signal ``signal_name``) leaves behind, and the command that continues
    from it.

    The round count is the checkpoint's, when there is one: a round merged in memory but not yet saved is lost,
    and the resumed run redoes it.
    """
    what = f"interrupted by {signal_name}" if signal_name else "interrupted"
    if run_dir is not None and (Path(run_dir) / ckpt.CHECKPOINT).exists():
        try:
            rounds_done = len(ckpt.load_checkpoint(Path(run_dir))["report"]["rounds"])
        except Exception:  # the message must not fail; a damaged checkpoint is reported by the resume itself
            pass
        where = f"{what} after {rounds_done} merged round(s)" if rounds_done is not None else what
        return f"{where}; {resume_hint(run_dir)}"
    where = f"{what} after {rounds_done} merged round(s)" if rounds_done is not None else what
    if run_dir is None:
        return where
    return f"{what} during start-up, before the first checkpoint: {run_dir} holds nothing to resume; run the same command again"


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def check_claimed(path: Path) -> None:
    """Refuse to write into ``path`` when it is no longer the directory this process claimed.

    Called before every save: a run directory removed, moved or replaced while the run goes on must not be
    silently recreated (the run's earlier checkpoints are not in it) or written into (it may be someone else's).
    """
    key = os.path.abspath(path)
    if key not in _claimed:
        return
    try:
        same = _identity(Path(path)) == _claimed[key]
    except OSError:
        same = False
    if not same:
        raise RunDirError(
            f"run directory {path} was removed or replaced while this run was using it: stopping without writing to it"
        )


def _probe_writable(directory: Path) -> None:
    """Create and remove a file: permission bits alone do not tell (root, read-only mounts, /proc)."""
    probe = directory / f".probe.{os.getpid()}{ckpt.TMP_SUFFIX}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        probe.unlink()
    except OSError as exc:
        raise RunDirError(f"run directory {directory} is not writable: {_reason(exc)}") from exc


#: Temporary files of run-directory writes (``.NAME.RANDOM.tmp``, see ``checkpoint.atomic_path``) and of the
#: writability probe; anything else in the directory, hidden or not, is the user's and is left alone.
_TEMPORARY = re.compile(
    r"^\.(?:" + "|".join(map(re.escape, (*START_FILES, ckpt.CHECKPOINT))) + r")\..+" + re.escape(ckpt.TMP_SUFFIX) + "$"
    + r"|^\.probe\.\d+" + re.escape(ckpt.TMP_SUFFIX) + "$"
)


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Remove what killed writes left behind (``.NAME.*.tmp`` files, ``final.tmp/``); call only under the lock."""
    removed = []
    for path in directory.iterdir():
        if _TEMPORARY.match(path.name) and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
        elif path.name == ckpt.FINAL + ckpt.TMP_SUFFIX and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def owned_names(directory: Path) -> frozenset[str]:
    """The names the directory's marker lists as boostlora's (only ``OWNED`` ones count); none without a marker."""
    try:
        fd = os.open(directory / MARKER, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd) as handle:
            listed = json.load(handle).get("files", [])
    except (OSError, ValueError, AttributeError):
        return frozenset()
    return frozenset(name for name in listed if name in OWNED)


def remove_owned(directory: Path, name: str) -> None:
    """Remove ``name`` from ``directory`` if the marker lists it as boostlora's; never follow a symbolic link."""
    if name not in owned_names(directory):
        return
    path = directory / name
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _entries(directory: Path, ignore: set[str]) -> list[str]:
    """The directory's entries (folders with a trailing ``/``), sorted, for a refusal to name."""
    return sorted(entry.name + ("/" if entry.is_dir() else "") for entry in os.scandir(directory) if entry.name not in ignore)


def _make_directory(path: Path) -> bool:
    """Create ``path`` (and its parents); True only when this call created ``path`` itself (``mkdir`` is atomic)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(path)
        return True
    except FileExistsError:
        if not path.is_dir():
            raise RunDirError(f"run directory {path} is a file, not a directory: choose another --out") from None
        return False
    except OSError as exc:
        raise RunDirError(f"cannot create run directory {path}: {_reason(exc)}") from exc


def _open_lock(path: Path) -> tuple[int, bool]:
    """Open (or create, exclusively when it is missing) ``.lock``, never through a symbolic link."""
    lock_path = path / LOCK
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        try:
            return os.open(lock_path, flags | os.O_CREAT | os.O_EXCL, 0o666), True
        except FileExistsError:
            pass
        try:
            return os.open(lock_path, flags), False
        except FileNotFoundError:  # removed in between by the run that held it: create it ourselves
            continue
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise RunDirError(f"{lock_path} is a symbolic link: refusing to lock or write through it") from None
            raise


def write_marker(path: Path) -> None:
    """Create the marker exclusively (never through a link) listing the names boostlora writes here."""
    try:
        fd = os.open(path / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    except FileExistsError:
        raise RunDirBusy(f"{path} changed while it was being claimed: try again") from None
    except OSError as exc:
        raise RunDirError(f"could not write {path / MARKER}: {_reason(exc)}") from exc
    with os.fdopen(fd, "w") as handle:
        json.dump({"boostlora_run_directory": 1, "files": list(OWNED)}, handle)
        handle.write("\n")


class RunDirectory:
    """A claimed run directory: locked for this process until ``release``."""

    def __init__(self, path: Path, fd: int, *, created: bool, lock_created: bool, marker_created: bool,
                 fresh: bool, existed: frozenset[str]) -> None:
        self.path = path
        self._fd: int | None = fd
        self._created = created
        self._lock_created = lock_created
        self._marker_created = marker_created
        self._fresh = fresh
        self._existed = existed
        self._identity = _identity(path)
        _claimed[os.path.abspath(path)] = self._identity

    @classmethod
    def claim(cls, path: Path, *, resume: bool, overwrite: bool = False) -> RunDirectory:
        """Check, create and lock ``path`` before anything loads; refuse a busy, unwritable, used or foreign one.

        ``resume=False`` refuses a directory that already holds a checkpoint, and a non-empty one that is not a
        run directory, unless ``overwrite``: then the entries with boostlora's names go, and nothing else.
        ``resume=True`` refuses a directory that holds no checkpoint.
        """
        path = Path(path)
        if resume and not path.exists():
            raise ConfigError(f"{path} does not exist: nothing to resume")
        if path.exists() and not path.is_dir():
            raise RunDirError(f"run directory {path} is a file, not a directory: choose another --out")
        created = _make_directory(path)
        fault_point("claiming")
        lock_path = path / LOCK
        try:
            fd, lock_created = _open_lock(path)
        except RunDirError:
            cls._remove_directory(path, created)
            raise
        except OSError as exc:
            cls._remove_directory(path, created)
            raise RunDirError(f"run directory {path} is not writable: {_reason(exc)}") from exc
        held = marker_created = False
        try:
            cls._lock(fd, lock_path)
            held = True  # from here on, no other boostlora process decides anything about this directory
            marked = os.path.lexists(path / MARKER)
            has_checkpoint = (path / ckpt.CHECKPOINT).exists()
            if not resume and marked and has_checkpoint and not overwrite:
                raise ConfigError(
                    f"{path} already holds a run: resume it with --resume, start it over with --overwrite, or choose "
                    "another --out"
                )
            if not marked and not resume:
                foreign = _entries(path, {LOCK} if lock_created else set())
                if foreign and not overwrite:
                    shown = ", ".join(foreign[:SHOWN]) + (f", ... ({len(foreign) - SHOWN} more)" if len(foreign) > SHOWN else "")
                    raise RunDirError(
                        f"{path} is not empty and is not a boostlora run directory (it holds {shown}): choose another "
                        "--out, or pass --overwrite to let boostlora replace only its own files there"
                        + (" (or --resume, if it is a run of an older boostlora)" if has_checkpoint else "")
                    )
            if resume and not has_checkpoint:
                raise ConfigError(
                    f"{path} has no {ckpt.CHECKPOINT} (its start never finished): nothing to resume; run the command "
                    "that started it again"
                )
            _probe_writable(path)
            if not marked:  # a new run directory, a foreign one given --overwrite, or one made before markers
                write_marker(path)
                marker_created = True
            if overwrite and not resume:
                for name in (*START_FILES, ckpt.CHECKPOINT, ckpt.FINAL, ckpt.FINAL + ckpt.TMP_SUFFIX, ckpt.PREDICTIONS):
                    remove_owned(path, name)
            existed = frozenset(name for name in (*START_FILES, ckpt.CHECKPOINT) if (path / name).exists())
            try:  # only for the message a second run prints; padded so that a full disk needs no new block
                os.pwrite(fd, f"{os.getpid():<20}\n".encode(), 0)
            except OSError:
                pass
            remove_stale_temporaries(path)
        except BaseException:
            if marker_created:
                (path / MARKER).unlink(missing_ok=True)
            if held and lock_created:  # only a lock this process holds is ever removed
                lock_path.unlink(missing_ok=True)
            os.close(fd)
            if held:
                cls._remove_directory(path, created)
            raise
        return cls(path, fd, created=created, lock_created=lock_created, marker_created=marker_created,
                   fresh=not resume, existed=existed)

    @staticmethod
    def _lock(fd: int, lock_path: Path) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunDirError(f"cannot lock {lock_path}: {_reason(exc)}") from exc
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunDirBusy(
                f"{lock_path.parent} is in use by another boostlora run (PID {holder}): wait for it to finish, "
                "or choose another --out"
            ) from None
        # The file may have been replaced between open and lock (a failed start removing its directory):
        # only a lock on the file the path names now counts.
        try:
            same = os.fstat(fd).st_ino == os.stat(lock_path, follow_symlinks=False).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            raise RunDirBusy(f"{lock_path.parent} changed while it was being claimed: try again")

    @staticmethod
    def _remove_directory(path: Path, created: bool) -> None:
        """Remove the directory this claim created, only when it is empty again (``rmdir`` refuses otherwise)."""
        if created:
            try:
                path.rmdir()
            except OSError:
                pass

    def release(self) -> None:
        """Drop the lock (the kernel does the same when the process dies)."""
        _claimed.pop(os.path.abspath(self.path), None)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def abandon(self) -> None:
        """A fresh start failed: if it wrote no checkpoint, remove what it wrote (and the directory it created).

        Only files this start created are removed, only names the marker lists, and nothing at all when the
        directory is no longer the one claimed.
        """
        try:
            same = _identity(self.path) == self._identity
        except OSError:
            same = False
        if not same or not self._fresh or (self.path / ckpt.CHECKPOINT).exists():
            return
        for name in START_FILES:
            if name not in self._existed:
                remove_owned(self.path, name)
        remove_stale_temporaries(self.path)
        if self._lock_created:  # still held: removed before the lock is dropped
            remove_owned(self.path, LOCK)
        if self._marker_created:
            (self.path / MARKER).unlink(missing_ok=True)
        self.release()
        self._remove_directory(self.path, self._created)
