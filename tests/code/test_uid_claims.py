"""Sandbox uid claims are machine-wide and cannot be planted: two runs never share a uid whatever their TMPDIR, and
a symlink or a directory where a lock file belongs is skipped, never followed."""

from __future__ import annotations

import fcntl
import os
import tempfile

import pytest

from boostlora_plugins.code import sandbox

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.access("/run", os.W_OK),
                                reason="the machine-wide claims live in /run, which needs root")


def next_uid() -> int:
    """The uid the next claim tries first (claims walk the pool in order)."""
    return sandbox.UID_BASE + (next(sandbox._uids) + 1) % sandbox.UID_POOL


def _remove_stale_lock(path: str) -> None:
    """An earlier run's lock file, free now, where the test plants its own (claims recreate lock files)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: held by a live run, leave it
        os.unlink(path)
    finally:
        os.close(fd)


def test_claims_are_exclusive_across_temp_dirs(tmp_path, monkeypatch):
    with sandbox._claimed_uid() as first:
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # another run with another TMPDIR
        with sandbox._claimed_uid() as second:
            assert second != first
    assert sandbox.lock_directory() == "/run/boostlora-sandbox"
    assert oct(os.stat(sandbox.lock_directory()).st_mode & 0o777) == "0o700"


def test_a_planted_symlink_or_directory_is_skipped_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    directory = sandbox.lock_directory()
    planted = []
    try:
        uid = next_uid()
        for offset, kind in enumerate(("symlink", "directory")):
            path = os.path.join(directory, f"uid-{uid + offset}.lock")
            _remove_stale_lock(path)
            if kind == "symlink":
                os.symlink(victim, path)
            else:
                os.mkdir(path)
            planted.append(path)
        with sandbox._claimed_uid() as claimed:
            assert claimed not in (uid, uid + 1)
        assert victim.read_text() == "keep me"
    finally:
        for path in planted:
            os.rmdir(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
