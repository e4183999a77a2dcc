"""Fixtures of the code plugin tests: the sandbox in force here, tight limits, a victim directory on the host."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from boostlora import ConfigError
from boostlora_plugins.code.isolation import _hidden_roots, select
from boostlora_plugins.code.limits import Limits

MiB = 1024 * 1024
TIGHT = Limits(wall_seconds=8, cpu_seconds=1, memory_bytes=512 * MiB, file_size_bytes=4 * MiB, workdir_bytes=16 * MiB,
               processes=16, output_bytes=256 * 1024)


@pytest.fixture(scope="session")
def isolation():
    """The strongest isolation this machine offers: bubblewrap (``auto``) where it works, else the fallback named
    explicitly (``auto`` no longer falls back by itself); skip when there is none."""
    reasons = []
    for level in ("auto", "unshare"):
        try:
            return select(level)
        except ConfigError as exc:
            reasons.append(str(exc))
    pytest.skip(f"no sandbox on this machine: {'; '.join(reasons)}")


@pytest.fixture(scope="session")
def limits() -> Limits:
    return TIGHT


VICTIM_PARENTS = (Path(__file__).resolve().parent, Path("/var/lib/boostlora-test-victims"), Path("/opt/boostlora-test-victims"))


def visible_parent() -> Path:
    """A writable host directory that the sandbox shows (read-only) rather than hides.

    Next to the tests, unless the checkout itself lies under a hidden root (a CI clone under /tmp, say): a victim
    there would only test hiding, so fall back to directories outside every hidden root."""
    hidden = _hidden_roots()
    for parent in VICTIM_PARENTS:
        real = os.path.realpath(parent)
        if any(real == root or real.startswith(root + "/") for root in hidden):
            continue
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(parent, os.W_OK):
            return parent
    pytest.skip("no writable host directory outside the sandbox's hidden roots")


@pytest.fixture
def victim():
    """A directory on the host, outside the sandbox's working directory and not hidden, with one file in it.

    Yields (directory, file, original bytes)."""
    directory = Path(tempfile.mkdtemp(prefix="victim-", dir=visible_parent()))
    directory.chmod(0o755)
    target = directory / "precious.txt"
    target.write_bytes(b"do not touch\n")
    target.chmod(0o644)
    yield directory, target, b"do not touch\n"
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def home_secret():
    """A secret file in the home directory for the 'read under home' case; removed afterwards."""
    fd, path = tempfile.mkstemp(prefix=".boostlora-secret-", dir=os.path.expanduser("~"))
    os.write(fd, b"TOKEN-8d1f4a\n")
    os.close(fd)
    yield Path(path)
    os.unlink(path)
