"""One writer per run directory, checked before anything loads, and no leftovers from a failed start.

A run directory is claimed before the model or the data load: the path must be (or become) a directory this
process can write, and an advisory ``fcntl.flock`` on its ``.lock`` file is held for the whole run, so a second
run on the same ``--out`` stops at once instead of interleaving its files with the first one's. The kernel drops
the lock when its holder dies, however it dies, so a killed run never blocks its own resume; the PID written
into the file only serves the message. Once the lock is held, nothing else can be writing, so temporary files
that a killed write left behind are removed. A fresh start that fails before its first checkpoint removes what
it wrote, so no SVD cache or config of a run that never began is left for a later run to trip over.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
from pathlib import Path

from boostlora.foundation.errors import ConfigError, RunDirBusy, RunDirError
from boostlora.runs import checkpoint as ckpt

LOCK = ".lock"
#: Files a start writes before its first checkpoint, removed again when that start fails.
START_FILES = (ckpt.CONFIG, ckpt.SVD_CACHE, ckpt.REPORT)


def resume_hint(run_dir: Path) -> str:
    return f"resume with: boostlora run --resume {run_dir}"


def interrupted_message(run_dir: Path | None, rounds_done: int | None = None) -> str:
    """What an interruption leaves behind, and the command that continues from it.

    The round count is the checkpoint's, when there is one: a round merged in memory but not yet saved is lost,
    and the resumed run redoes it.
    """
    if run_dir is not None and (Path(run_dir) / ckpt.CHECKPOINT).exists():
        try:
            rounds_done = len(ckpt.load_checkpoint(Path(run_dir))["report"]["rounds"])
        except Exception:  # the message must not fail; a damaged checkpoint is reported by the resume itself
            pass
        where = f"interrupted after {rounds_done} merged round(s)" if rounds_done is not None else "interrupted"
        return f"{where}; {resume_hint(run_dir)}"
    where = f"interrupted after {rounds_done} merged round(s)" if rounds_done is not None else "interrupted"
    if run_dir is None:
        return where
    return f"interrupted during start-up, before the first checkpoint: {run_dir} holds nothing to resume; run the same command again"


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


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
        elif path.name == ckpt.FINAL + ckpt.TMP_SUFFIX and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


class RunDirectory:
    """A claimed run directory: locked for this process until ``release``."""

    def __init__(self, path: Path, fd: int, created: bool, fresh: bool, existed: frozenset[str]) -> None:
        self.path = path
        self._fd: int | None = fd
        self._created = created
        self._fresh = fresh
        self._existed = existed

    @classmethod
    def claim(cls, path: Path, *, resume: bool) -> RunDirectory:
        """Check, create and lock ``path`` before anything loads; refuse a busy, unwritable or already used one.

        ``resume=False`` refuses a directory that already holds a checkpoint; ``resume=True`` one that holds none.
        """
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise RunDirError(f"run directory {path} is a file, not a directory: choose another --out")
        created = not path.exists()
        if resume and created:
            raise ConfigError(f"{path} does not exist: nothing to resume")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirError(f"cannot create run directory {path}: {_reason(exc)}") from exc
        lock_path = path / LOCK
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            cls._undo_create(path, created)
            raise RunDirError(f"run directory {path} is not writable: {_reason(exc)}") from exc
        try:
            cls._lock(fd, lock_path)
            existed = frozenset(name for name in (*START_FILES, ckpt.CHECKPOINT) if (path / name).exists())
            has_checkpoint = ckpt.CHECKPOINT in existed
            if not resume and has_checkpoint:
                raise ConfigError(f"{path} already holds a run: resume it with --resume, or choose another --out")
            if resume and not has_checkpoint:
                raise ConfigError(
                    f"{path} has no {ckpt.CHECKPOINT} (its start never finished): nothing to resume; run the command "
                    "that started it again"
                )
            _probe_writable(path)
            try:  # only for the message a second run prints; padded so that a full disk needs no new block
                os.pwrite(fd, f"{os.getpid():<20}\n".encode(), 0)
            except OSError:
                pass
        except BaseException:
            os.close(fd)
            cls._undo_create(path, created)
            raise
        remove_stale_temporaries(path)
        return cls(path, fd, created, not resume, existed)

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
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            raise RunDirBusy(f"{lock_path.parent} changed while it was being claimed: try again")

    @staticmethod
    def _undo_create(path: Path, created: bool) -> None:
        if created:
            (path / LOCK).unlink(missing_ok=True)
            try:
                path.rmdir()
            except OSError:
                pass

    def release(self) -> None:
        """Drop the lock (the kernel does the same when the process dies)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def abandon(self) -> None:
        """A fresh start failed: if it wrote no checkpoint, remove what it wrote (and the directory it created)."""
        if not self._fresh or (self.path / ckpt.CHECKPOINT).exists():
            return
        for name in START_FILES:
            if name not in self._existed:
                (self.path / name).unlink(missing_ok=True)
        remove_stale_temporaries(self.path)
        if self._created:
            (self.path / LOCK).unlink(missing_ok=True)
            self.release()
            try:
                self.path.rmdir()
            except OSError:
                pass
