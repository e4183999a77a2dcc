"""Fault injection on a tiny model: runs that are killed, interrupted, corrupted, raced and starved of disk.

Every run here is the toy plugin (tests/toy_plugin.py) on 64 training examples, a fraction of a second per run.
Runs execute in this process through ``boostlora.cli.main``; a run that must die by SIGKILL or be raced by a
second run executes in a forked child, so that no test pays for a fresh interpreter and torch import.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from boostlora.cli import main
from boostlora.foundation import faults

SETTINGS = [
    "task=toy", "u=4", "weight_tying=0.0", "targets=[out]", "show_progress=false", "max_rounds=3",
    "objective_options.steps=20", "task_options.n_train=64", "task_options.n_eval=32",
]
TIMING = ("seconds", "seconds_train", "seconds_eval_train", "seconds_merge", "seconds_by_phase", "seconds_train_by_phase",
          "peak_rss_mb_by_phase", "peak_rss_mb_train_by_phase")  # measurements of the machine, not of the run


def start_args(out: Path, *extra: str) -> list[str]:
    return ["run", "--plugin", "toy", "--out", str(out), *SETTINGS, *extra]


@dataclass
class Result:
    code: int  # exit status; -N when the process died of signal N
    out: str
    err: str

    def one_line_error(self, code: int, *needles: str) -> str:
        """Assert a one-line error with exit status ``code`` that mentions every needle; return the line."""
        assert self.code == code, (self.code, self.err)
        lines = [line for line in self.err.splitlines() if line.strip()]
        assert len(lines) == 1, self.err
        assert lines[0].startswith("boostlora: error: "), lines[0]
        assert "Traceback" not in self.err
        for needle in needles:
            assert needle in lines[0], (needle, lines[0])
        return lines[0]


def cli(*argv: str, fault: str | None = None) -> Result:
    """``boostlora ARGV`` in this process, with ``BOOSTLORA_FAULT=fault`` while it runs."""
    out, err = io.StringIO(), io.StringIO()
    previous = os.environ.pop(faults.ENV, None)
    if fault:
        os.environ[faults.ENV] = fault
    faults.reset()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
    finally:
        os.environ.pop(faults.ENV, None)
        if previous is not None:
            os.environ[faults.ENV] = previous
    return Result(code, out.getvalue(), err.getvalue())


def holds_lock(out: Path, pid: int) -> bool:
    lock = out / ".lock"
    return lock.exists() and lock.read_text().strip() == str(pid)


def rounds_saved(out: Path) -> int:
    """Rounds in the run's report (written after the checkpoint, atomically), 0 before the first save."""
    report = out / "report.json"
    return len(json.loads(report.read_text())["rounds"]) if report.exists() else 0


def spawn(argv: list[str], fault: str | None, logs: Path) -> int:
    """Start ``boostlora ARGV`` in a forked child (which may kill itself at a fault point); return its PID."""
    logs.mkdir(parents=True, exist_ok=True)
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 99
        try:
            sys.stdout = open(logs / "out", "w")
            sys.stderr = open(logs / "err", "w")
            if fault:
                os.environ[faults.ENV] = fault
            faults.reset()
            # Ctrl-C raises, as in a terminal, even when pytest itself was started in the background (where a
            # shell starts it with SIGINT ignored, and a forked child would inherit that)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            code = main(argv)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return pid


def reap(pid: int, logs: Path) -> Result:
    """Wait for a spawned child; its exit status (-N for death by signal N) and output."""
    _, status = os.waitpid(pid, 0)
    return Result(os.waitstatus_to_exitcode(status), (logs / "out").read_text(), (logs / "err").read_text())


def run_forked(argv: list[str], fault: str | None, logs: Path) -> Result:
    """A forked run to its end or its death."""
    return reap(spawn(argv, fault, logs), logs)


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def files(run_dir: Path) -> dict[str, bytes]:
    """Every file of a run directory (not the lock, whose PID changes) by relative path."""
    return {
        str(p.relative_to(run_dir)): p.read_bytes()
        for p in sorted(run_dir.rglob("*")) if p.is_file() and p.name != ".lock"
    }


def rounds_without_timing(run_dir: Path) -> list[dict]:
    import json

    rounds = json.loads((run_dir / "report.json").read_text())["rounds"]
    return [{k: v for k, v in rec.items() if k not in TIMING} for rec in rounds]


@dataclass
class Reference:
    """An uninterrupted run: what every interrupted-and-resumed run must reproduce bit for bit."""

    path: Path

    def assert_reproduced_by(self, run_dir: Path) -> None:
        assert (run_dir / "final" / "model.safetensors").read_bytes() == (self.path / "final" / "model.safetensors").read_bytes()
        assert rounds_without_timing(run_dir) == rounds_without_timing(self.path)
        leftovers = [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]
        assert not leftovers, leftovers


@pytest.fixture(scope="session")
def reference(toy_plugin, tmp_path_factory) -> Reference:
    path = tmp_path_factory.mktemp("reference") / "run"
    result = cli(*start_args(path))
    assert result.code == 0, result.err
    assert len(rounds_without_timing(path)) == 3  # every round had failures to train on
    return Reference(path)


@pytest.fixture(scope="session")
def partial_run(toy_plugin, tmp_path_factory) -> Path:
    """A run interrupted (Ctrl-C) right after round 0's checkpoint: the state the corruption tests damage."""
    path = tmp_path_factory.mktemp("partial") / "run"
    result = cli(*start_args(path), fault="saved#2=interrupt")
    result.one_line_error(130, "interrupted after 1 merged round(s)", f"resume with: boostlora run --resume {path}")
    return path


@pytest.fixture
def damaged(partial_run, tmp_path) -> Path:
    """A fresh copy of ``partial_run`` to damage."""
    copy = tmp_path / "run"
    shutil.copytree(partial_run, copy)
    return copy


def mount_tmpfs(path: Path, options: str) -> bool:
    """Mount a tmpfs with ``options`` at ``path`` where this machine lets us (root, mount allowed); else False."""
    import subprocess

    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


def unmount(path: Path) -> None:
    import subprocess

    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path | None]:
    """A 1 MiB tmpfs to fill up, or None where the machine does not allow mounting one."""
    disk = tmp_path / "disk"
    mounted = mount_tmpfs(disk, "size=1m")
    yield disk if mounted else None
    if mounted:
        unmount(disk)


def fill(disk: Path) -> Path:
    """Write a file on ``disk`` until the disk is full; return it."""
    filler = disk / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(chunk)
        except OSError:
            pass
    for size in (4096, 512, 1):  # the last partial blocks too
        with contextlib.suppress(OSError), open(filler, "ab", buffering=0) as handle:
            while True:
                handle.write(b"\0" * size)
    return filler
