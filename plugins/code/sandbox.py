"""Run one untrusted program and its tests in the sandbox, and say what happened.

The host side of the protocol in ``runner.py``: start the runner through the chosen isolation in its own
process group, feed it the job, read its output under a cap until it exits or the wall clock runs out, then
kill the whole process group (and, where the program ran as a dedicated uid, every process of that uid) so
nothing outlives the check. The result names the limit that stopped the program, if one did.
"""

from __future__ import annotations

import ast
import fcntl
import itertools
import marshal
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import limits as L
from .isolation import Isolation
from .limits import Limits

RUNNER_SOURCE = Path(__file__).with_name("runner.py").read_text()
# Unused uids the program runs as when the host is root: one per run (modulo the pool), so RLIMIT_NPROC
# counts only that program's processes and the cleanup can find every process it started, even setsid()'d ones.
UID_BASE, UID_POOL = 1_990_000, 4096
_uids = itertools.count()
_uid_lock = threading.Lock()
_TAIL = 600


@dataclass(frozen=True)
class Job:
    """A program and its tests. ``units`` run one by one after ``setup``; ``candidate`` names the function
    bound to ``candidate`` before the units run (HumanEval's ``check(candidate)`` style)."""

    program: str
    units: tuple[str, ...]
    setup: str = ""
    candidate: str | None = None
    stop_on_failure: bool = True


@dataclass(frozen=True)
class SandboxResult:
    """``status`` is passed, failed (a test failed), error (an exception), syntax_error or limit."""

    status: str
    detail: str
    limit: str | None = None
    passed: int = 0
    total: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    stdout: str = ""
    stderr: str = field(default="", repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "passed"


@contextmanager
def _claimed_uid() -> Iterator[int]:
    """An unused uid, held exclusively for one run, across threads AND processes on this host.

    The stray-process sweep kills everything a run's uid owns, so two runs must never share a uid: a lock file
    per uid (``flock``, released when the run ends or its process dies) makes the claim machine-wide.
    """
    for _ in range(UID_POOL):
        with _uid_lock:
            uid = UID_BASE + next(_uids) % UID_POOL
        fd = os.open(os.path.join(tempfile.gettempdir(), f"boostlora-sandbox-uid-{uid}.lock"), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield uid
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return
    raise RuntimeError(f"all {UID_POOL} sandbox uids are in use")


def _env() -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0"}


def _pids_of_uid(uid: int) -> list[int]:
    """Live (not zombie) processes owned by ``uid``; zombies are already dead and are reaped by their parent."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if line[:4] in ("Stat", "Uid:"))
        except (OSError, ValueError):
            continue
        state, uids = fields.get("State", " "), fields.get("Uid", "").split()
        if uids and int(uids[0]) == uid and state.split()[0] not in ("Z", "X"):
            pids.append(int(entry))
    return pids


def _kill_everything(pgid: int, uid: int | None) -> bool:
    """Kill the process group and, for a dedicated uid, all its processes. True when something was left."""
    left = False
    try:
        os.killpg(pgid, signal.SIGKILL)
        left = True
    except (ProcessLookupError, PermissionError):
        pass
    if uid is not None:
        for _ in range(200):  # a fork loop may spawn while we kill; repeat until the uid owns nothing
            pids = _pids_of_uid(uid)
            if not pids:
                break
            left = True
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)
    return left


def _exited(pid: int) -> bool:
    """Whether ``pid`` has exited, without reaping it (its rusage is collected later by ``wait4``)."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


class _Pipes:
    """Feed stdin and read stdout/stderr without blocking, under a byte cap and a deadline."""

    def __init__(self, proc: subprocess.Popen, payload: bytes, cap: int) -> None:
        self.proc, self.payload, self.cap = proc, memoryview(payload), cap
        self.out, self.err = bytearray(), bytearray()
        self.selector = selectors.DefaultSelector()
        for stream, event in ((proc.stdin, selectors.EVENT_WRITE), (proc.stdout, selectors.EVENT_READ), (proc.stderr, selectors.EVENT_READ)):
            os.set_blocking(stream.fileno(), False)
            self.selector.register(stream, event)

    def pump(self, deadline: float) -> str | None:
        """Run until the process exits and its pipes are drained; return WALL_TIME or OUTPUT when stopped early."""
        exited = False
        while self.selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return L.WALL_TIME
            events = self.selector.select(timeout=0 if exited else min(remaining, 0.05))
            for key, _ in events:
                if self._handle(key.fileobj):
                    return L.OUTPUT
            if exited and not events:
                break  # the program is gone; whatever still holds the pipes open is a stray, killed next
            exited = exited or _exited(self.proc.pid)
        return None

    def _handle(self, stream) -> bool:
        fd = stream.fileno()
        if stream is self.proc.stdin:
            try:
                written = os.write(fd, self.payload[:65536])
            except (BrokenPipeError, BlockingIOError) as exc:
                written = 0 if isinstance(exc, BlockingIOError) else len(self.payload)
            self.payload = self.payload[written:]
            if not self.payload:
                self.selector.unregister(stream)
                stream.close()
            return False
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return False
        if not data:
            self.selector.unregister(stream)
            return False
        buffer = self.out if stream is self.proc.stdout else self.err
        buffer += data
        return len(self.out) + len(self.err) > self.cap

    def close(self) -> None:
        for key in list(self.selector.get_map().values()):
            self.selector.unregister(key.fileobj)
        self.selector.close()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except OSError:
                pass


def run_job(job: Job, limits: Limits, isolation: Isolation) -> SandboxResult:
    """Run ``job`` under ``limits`` inside ``isolation``. Never raises for anything the program does."""
    if not isolation.drops_root:
        return _run_as(job, limits, isolation, None)
    with _claimed_uid() as uid:
        return _run_as(job, limits, isolation, uid)


def _run_as(job: Job, limits: Limits, isolation: Isolation, uid: int | None) -> SandboxResult:
    nonce = secrets.token_hex(16)
    payload = marshal.dumps({
        "program": job.program, "setup": job.setup, "units": list(job.units), "candidate": job.candidate,
        "stop_on_failure": job.stop_on_failure, "limits": limits.to_dict(), "uid": uid, "nonce": nonce,
        "hidden": list(isolation.hidden), "count_strays": isolation.pid_namespace,
        "pin_import_paths": isolation.pin_import_paths, "prctl": not isolation.pid_namespace,
    })
    cwd, scratch = isolation.workdir(uid)
    start = time.monotonic()
    proc = subprocess.Popen(
        isolation.command(sys.executable, RUNNER_SOURCE, limits.workdir_bytes), cwd=cwd, env=_env(),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, close_fds=True,
    )
    pipes = _Pipes(proc, payload, limits.output_bytes)
    stopped = None
    try:
        stopped = pipes.pump(start + limits.wall_seconds)
    finally:
        if stopped is not None or not _exited(proc.pid):
            _kill_everything(proc.pid, uid)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        pipes.close()
    report, out = _find_report(pipes.out, nonce)
    # A pid namespace dies with its runner, but asynchronously: where the program may have left processes, sweep
    # its uid so that "nothing left" holds on return. Without a pid namespace, always sweep (and count strays).
    clean = report is not None and report["limit"] not in (L.PROCESSES, L.STRAY_PROCESSES)
    sweep = None if isolation.pid_namespace and clean else uid
    strays = _kill_everything(proc.pid, sweep)  # the leader is reaped: anything found now outlived it
    if scratch:
        _remove_tree(scratch)
    seconds = time.monotonic() - start
    cpu = usage.ru_utime + usage.ru_stime
    err = pipes.err
    common = {"seconds": seconds, "cpu_seconds": cpu, "stdout": out[-_TAIL:].decode(errors="replace"),
              "stderr": err[-_TAIL:].decode(errors="replace")}
    total = len(job.units)
    if stopped == L.WALL_TIME:
        return SandboxResult("limit", f"still running after the {limits.wall_seconds:g}s wall-clock limit; process group killed",
                             L.WALL_TIME, total=total, **common)
    if stopped == L.OUTPUT:
        return SandboxResult("limit", f"wrote more than {limits.output_bytes} bytes of output; killed", L.OUTPUT,
                             total=total, **common)
    if report is not None:
        result = SandboxResult(report["status"], report["detail"], report["limit"], report["passed"], report["total"], **common)
        if strays and not isolation.pid_namespace and result.ok:
            return SandboxResult("limit", "left processes running after it finished; killed", L.STRAY_PROCESSES,
                                 result.passed, total, **common)
        return result
    return _classify_exit(proc.returncode, isolation, limits, cpu, total, common)


def _classify_exit(code: int, isolation: Isolation, limits: Limits, cpu: float, total: int, common: dict) -> SandboxResult:
    """The program ended without the runner's report: a signal, or an exit before the tests finished."""
    signum = -code if code < 0 else (code - 128 if isolation.name == "bwrap" and code > 128 else None)
    if signum == signal.SIGXCPU or (signum == signal.SIGKILL and cpu >= limits.cpu_seconds):
        return SandboxResult("limit", f"used more than {limits.cpu_seconds}s of CPU time", L.CPU_TIME, total=total, **common)
    if signum == signal.SIGXFSZ:
        return SandboxResult("limit", f"wrote a file larger than {limits.file_size_bytes} bytes", L.FILE_SIZE, total=total, **common)
    if signum is not None:
        name = signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else str(signum)
        return SandboxResult("error", f"killed by signal {name}", total=total, **common)
    tail = common["stderr"].strip().splitlines()[-1:] or [""]
    return SandboxResult("error", f"exited with code {code} before the tests finished {tail[0]}".strip(), total=total, **common)


def _find_report(out: bytearray, nonce: str) -> tuple[dict | None, bytes]:
    marker = ("\n" + nonce).encode()
    at = out.rfind(marker)
    if at < 0:
        return None, bytes(out)
    end = out.find(b"\n", at + len(marker))
    line = out[at + len(marker): end if end >= 0 else len(out)]
    try:
        report = ast.literal_eval(line.decode())
    except (ValueError, SyntaxError, UnicodeDecodeError):
        return None, bytes(out)
    if not isinstance(report, dict):
        return None, bytes(out)
    return report, bytes(out[:at])


def _remove_tree(path: str) -> None:
    """Delete a throw-away directory even when the program removed permissions inside it."""

    def fix(func, target, _exc):
        try:
            os.chmod(os.path.dirname(target), 0o700)
            os.chmod(target, 0o700)
            func(target)
        except OSError:
            pass

    shutil.rmtree(path, onerror=fix)
