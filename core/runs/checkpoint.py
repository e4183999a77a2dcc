"""Run-directory persistence: every write lands whole or not at all, and every read is checked.

A round's checkpoint is small because the method makes it small: the model after round k is the base model
plus k exact low-rank updates, so we store each round's r x r core per module (and any tensors the task
changed, such as a fitted head) instead of the weights. Resuming replays the merges with the same arithmetic
and the same cached bases, which reproduces the interrupted run's weights bit for bit.

The checkpoint carries a digest of its own contents, so a truncated or bit-flipped file is refused by name
rather than replayed; see ``rundir`` for the lock and the clean-up of interrupted writes.
"""

from __future__ import annotations

import io
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from boostlora.foundation.digest import state_digest
from boostlora.foundation.errors import RunDirError
from boostlora.foundation.faults import fault_point

CHECKPOINT = "checkpoint.pt"
REPORT = "report.json"
CONFIG = "config.yaml"
SVD_CACHE = "svd.safetensors"
FINAL = "final"
PREDICTIONS = "predictions"  # each evaluation's predictions and verdicts, compressed (runs/predictions.py)
#: Checkpoint layout version: 2 added the settings, SVD and content digests.
VERSION = 2
#: Suffix of every temporary file a write creates beside its target (``.NAME.RANDOM.tmp``).
TMP_SUFFIX = ".tmp"


def write_failure(path: Path, exc: BaseException) -> RunDirError | None:
    """The one-line error for a failed write of ``path``, or None when ``exc`` is not a storage failure.

    Besides ``OSError`` this recognises torch's zip writer (``enforce fail at inline_container.cc ...
    PytorchStreamWriter failed writing file``) and safetensors' ``IoError``, which report a full disk or a lost
    permission as a RuntimeError or their own exception type.
    """
    if isinstance(exc, RunDirError):
        return None
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
    else:
        text = str(exc)
        markers = ("PytorchStreamWriter", "inline_container", "file write failed", "IoError", "No space left")
        if not any(marker in text for marker in markers):
            return None
        reason = "write failed (" + text.strip().splitlines()[-1].strip()[:160] + ")"
        try:
            stat = os.statvfs(Path(path).parent)
            if stat.f_bavail * stat.f_frsize < 1 << 20:
                reason = "No space left on device"
        except OSError:
            pass
    return RunDirError(f"could not write {path}: {reason}")


def parse_failure(exc: BaseException) -> str:
    """The gist of a parser's complaint about a damaged file: its first sentence, or its type."""
    text = " ".join(str(exc).split())
    if not text or text.startswith("Weights only load failed"):  # torch's long advice, not about the file
        return type(exc).__name__
    return text.split(". ")[0][:120]


def _create_temporary(path: Path) -> Path:
    """A new empty file ``.NAME.RANDOM.tmp`` beside ``path``, created with mode 0666 so that the umask applies."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{TMP_SUFFIX}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def current_umask() -> int:
    """The process's umask, read without changing it where Linux reports it (``/proc/self/status``); elsewhere by
    setting and restoring it, the only portable way."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def follow_umask(*paths: Path) -> None:
    """Give every file at or under ``paths`` the mode a plain ``open`` would (0666 less the umask).

    safetensors (0.8) writes each weight file through a private temporary file of mode 0600 that it renames into
    place, so ``final/`` and an exported adapter would be readable by their owner alone whatever the umask says;
    a run's outputs are meant to be shared like any file the user writes.
    """
    mode = 0o666 & ~current_umask()
    for path in map(Path, paths):
        for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
            if item.is_file() and not item.is_symlink():
                os.chmod(item, mode)


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable; not every file system lets a directory be opened for that, so failures pass."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    An interrupted or failed write leaves the previous file untouched (rename is atomic within a file system)
    and its temporary file removed; a killed process leaves a ``.NAME.*.tmp`` that the next start removes.
    A storage failure (full disk, no permission) becomes one ``RunDirError`` naming ``path``.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _create_temporary(path)
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        fault_point(f"write:{path.name}")
        os.replace(tmp, path)
        _fsync_directory(path.parent)
    except Exception as exc:
        failure = write_failure(path, exc)
        if failure is None:
            raise
        raise failure from exc
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)


def write_json(path: Path, data: Any) -> None:
    write_bytes(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode())


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def read_bytes(path: Path) -> bytes:
    """A run-directory file's bytes; an unreadable file is one ``RunDirError`` naming it."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise RunDirError(f"cannot read {path}: {exc.strerror or exc}") from exc


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> None:
    """Write the run state (JSON-like values and tensors only) atomically, with a digest of its contents."""
    sealed = {**state, "version": VERSION}
    sealed["content_sha256"] = state_digest({k: v for k, v in sealed.items() if k != "content_sha256"})
    buffer = io.BytesIO()
    torch.save(sealed, buffer)
    write_bytes(Path(run_dir) / CHECKPOINT, buffer.getvalue())


def load_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """The checkpoint's state, or None when there is none; a damaged or foreign file is a ``RunDirError``."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    data = read_bytes(path)
    unusable = "it cannot be resumed: start a new run with another --out"
    if not data:
        raise RunDirError(f"{path} is empty (a write was cut short); {unusable}")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # any parse failure of the file means the file is damaged, whatever the parser says
        raise RunDirError(f"{path} is corrupt or truncated ({parse_failure(exc)}); {unusable}") from exc
    if not isinstance(state, dict) or "version" not in state:
        raise RunDirError(f"{path} is not a boostlora checkpoint; {unusable}")
    if state["version"] != VERSION:
        raise RunDirError(
            f"{path} has checkpoint layout version {state['version']}, this boostlora reads version {VERSION} "
            f"(version 1 recorded no settings or checksums to check a resume against); {unusable}"
        )
    recorded = state.get("content_sha256")
    try:
        actual = state_digest({k: v for k, v in state.items() if k != "content_sha256"})
    except TypeError as exc:
        raise RunDirError(f"{path} holds values no boostlora checkpoint holds ({exc}); {unusable}") from exc
    if recorded != actual:
        raise RunDirError(f"{path} is corrupt: its contents do not match the checksum it was written with; {unusable}")
    return state
