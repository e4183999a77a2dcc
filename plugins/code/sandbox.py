"""Check one untrusted program against its tests: two processes, and the verdict from the one without the program.

The host side of ``judge.py`` and ``callee.py``. Per check it makes two pipes, starts the candidate (the
model's program, behind the chosen isolation) holding one end of each, or takes one started ahead with its pipes
(``prestart.py``), and has the judge server fork the judge (the tests, a plain process outside the sandbox;
``judge_server.py``) holding the other ends, each in its own process group. It feeds both their jobs
and reads their output under caps until the judge has reported and the candidate has exited, or the wall clock
runs out; then it kills both groups (and, where the program ran as a dedicated uid, every process of that
uid) so nothing outlives the check.

The verdict comes only from the judge's stdout, a pipe the candidate never holds. The candidate's own output
is kept for diagnosis and capped; its exit status only names the limit that stopped it. Graded counts are the
distinct units the judge reported as passed, clamped to the number of units of the problem. Nothing either
process writes can make this module raise: malformed or oversized output is a failing result with a reason.
"""

from __future__ import annotations

import ast
import dataclasses
import fcntl
import itertools
import json
import logging
import marshal
import os
import selectors
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import cgroup, judges, prestart, seccomp
from . import limits as L
from .data import bound_names, program_units
from .isolation import Isolation, sandbox_python
from .limits import Limits

log = logging.getLogger("boostlora_plugins.code")

_HERE = Path(__file__).parent
_WIRE = (_HERE / "wire.py").read_text()
CALLEE_SOURCE = _WIRE + "\n\n" + (_HERE / "callee.py").read_text()
JUDGE_SOURCE = _WIRE + "\n\n" + (_HERE / "judge.py").read_text()
JUDGE_MEMORY = 512 * 1024 * 1024  # address space of the judge: the interpreter, the tests and decoded results
JUDGE_OUTPUT = 1024 * 1024  # the judge writes a few short lines (and a traceback if it breaks); more is a fault
LINGER_SECONDS = 2.0  # how long the candidate may take to exit once the judge has reported (a loaded machine is slow)
_STATUSES = ("passed", "failed", "error", "syntax_error", "limit", "gone")
# Unused uids the program runs as when the host is root: one per run (modulo the pool), so RLIMIT_NPROC
# counts only that program's processes and the cleanup can find every process it started, even setsid()'d ones.
UID_BASE, UID_POOL = 1_990_000, 4096
_uids = itertools.count()
_uid_lock = threading.Lock()
_TAIL = 600


@dataclass(frozen=True)
class Job:
    """A program and its tests. ``units`` run one by one in the judge after ``setup``; ``candidate`` names the
    function bound to ``candidate`` (HumanEval's ``check(candidate)`` style). Any other name the units use and
    do not define calls the program's function of that name (MBPP's ``assert f(x) == y``)."""

    program: str
    units: tuple[str, ...]
    setup: str = ""
    candidate: str | None = None
    stop_on_failure: bool = True
    prefix: str = ""  # the prompt's code: its helpers are the judge's own, not the candidate's
    # Indices of the units a graded score counts (those that use the program; None: found by ``program_units``).
    scored: tuple[int, ...] | None = None


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
    scored: int = 0  # units that passed *and* called the program: what a graded score counts
    scored_total: int = 0  # units that use the program (an ``assert True`` is not one)
    memory_peak: int | None = None  # bytes all the program's processes held at once, from its cgroup (None: no cgroup)

    @property
    def ok(self) -> bool:
        return self.status == "passed"


def lock_directory() -> str:
    """Where uid claims live: one directory per machine (per user), owned by us and closed to everyone else.

    Not the temp dir: two runs with different ``TMPDIR`` would each think a uid free, and a candidate that can write
    the host's temp dir could plant files there. ``/run`` is root-only; a non-root user gets a private folder.
    """
    if os.geteuid() == 0 and os.path.isdir("/run") and os.access("/run", os.W_OK):
        path = "/run/boostlora-sandbox"
    else:
        path = os.path.join(tempfile.gettempdir(), f"boostlora-sandbox-{os.geteuid()}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise RuntimeError(f"{path} must be a directory of uid {os.geteuid()} closed to others (mode 700): remove it")
    return path


@contextmanager
def _claimed_uid() -> Iterator[int]:
    """An unused uid, held exclusively for one run, across threads AND processes on this host.

    The stray-process sweep kills everything a run's uid owns, so two runs must never share a uid: a lock file
    per uid (``flock``, released when the run ends or its process dies) in one machine-wide directory
    (``lock_directory``) makes the claim exclusive. A lock path that is not a plain file (a planted symlink or
    directory) is skipped, never followed: that uid is treated as taken.
    """
    directory = lock_directory()
    for _ in range(UID_POOL):
        with _uid_lock:
            uid = UID_BASE + next(_uids) % UID_POOL
        try:
            fd = os.open(os.path.join(directory, f"uid-{uid}.lock"), os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
        except OSError:  # a symlink (ELOOP) or a directory (EISDIR) where a lock file should be
            continue
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
        quiet = 0
        for _ in range(200):  # a fork loop may spawn while we kill; repeat until the uid owns nothing
            pids = _pids_of_uid(uid)
            if not pids:
                quiet += 1
                if quiet > 1 or not left:  # after a kill, look twice: a child forked at the last moment shows late
                    break
                time.sleep(0.01)
                continue
            quiet, left = 0, True
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


class _Streams:
    """Feed the two processes' stdin and read their stdout/stderr without blocking, each under its own cap."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.buffers: dict[int, bytearray] = {}
        self.payloads: dict[int, memoryview] = {}
        self.groups: dict[int, str] = {}
        self.sizes: dict[str, int] = {}

    def add(self, proc: subprocess.Popen, payload: bytes, group: str) -> tuple[bytearray, bytearray]:
        """Watch ``proc``; its stdout and stderr count against ``group``'s cap. Returns (stdout, stderr) buffers."""
        self.payloads[proc.stdin.fileno()] = memoryview(payload)
        os.set_blocking(proc.stdin.fileno(), False)
        self.selector.register(proc.stdin, selectors.EVENT_WRITE)
        self.sizes.setdefault(group, 0)
        buffers = []
        for stream in (proc.stdout, proc.stderr):
            os.set_blocking(stream.fileno(), False)
            self.selector.register(stream, selectors.EVENT_READ)
            self.buffers[stream.fileno()] = bytearray()
            self.groups[stream.fileno()] = group
            buffers.append(self.buffers[stream.fileno()])
        return buffers[0], buffers[1]

    def open_readers(self, streams) -> bool:
        """Whether any of ``streams`` can still deliver data (not at end of file)."""
        watched = self.selector.get_map()
        return any(s.fileno() in watched for s in streams if not s.closed)

    def step(self, timeout: float, caps: dict[str, int]) -> tuple[bool, str | None]:
        """One round of I/O. Returns (anything happened, the group that went over its cap or None)."""
        if not self.selector.get_map():
            return False, None
        events = self.selector.select(timeout=timeout)
        for key, _ in events:
            stream = key.fileobj
            fd = stream.fileno()
            if fd in self.payloads:
                try:
                    written = os.write(fd, self.payloads[fd][:65536])
                except BlockingIOError:
                    written = 0
                except OSError:  # the process closed its stdin or died: nothing more to feed
                    written = len(self.payloads[fd])
                self.payloads[fd] = self.payloads[fd][written:]
                if not self.payloads[fd]:
                    del self.payloads[fd]
                    self.selector.unregister(stream)
                    stream.close()
                continue
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                self.selector.unregister(stream)
                continue
            self.buffers[fd] += data
            group = self.groups[fd]
            self.sizes[group] += len(data)
            if self.sizes[group] > caps[group]:
                return True, group
        return bool(events), None

    def close(self, procs) -> None:
        for key in list(self.selector.get_map().values()):
            self.selector.unregister(key.fileobj)
        self.selector.close()
        for proc in procs:
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                try:
                    stream.close()
                except OSError:
                    pass


def run_job(job: Job, limits: Limits, isolation: Isolation, cgroups: cgroup.Support | str | None = None,
            ahead: bool = False) -> SandboxResult:
    """Run ``job`` under ``limits`` inside ``isolation``. Never raises, whatever the program does or writes.

    ``cgroups``: where the program's memory cgroup is made (None: ``cgroup.probe()``, what this machine allows; a
    string, the reason there is none: rlimits only). ``ahead``: another check with the same limits follows, so
    start its candidate now (``prestart.py``; bubblewrap only); whoever passes it discards what is left waiting
    (``prestart.discard``)."""
    try:
        support = cgroup.probe() if cgroups is None else cgroups
        support = support if isinstance(support, cgroup.Support) else None
        if not isolation.drops_root:
            return _run_as(job, limits, isolation, None, support, ahead)
        with _claimed_uid() as uid:
            return _run_as(job, limits, isolation, uid, support, ahead)
    except judges.JudgeServerError as exc:
        return SandboxResult("error", f"sandbox failure: {exc}"[:300], total=len(job.units))
    except Exception as exc:  # a fault of this host code must fail one check, not a training run
        log.exception("code sandbox: internal error while checking a program")
        return SandboxResult("error", f"sandbox failure: {type(exc).__name__}: {exc}"[:300], total=len(job.units))


def free_names(units: tuple[str, ...]) -> list[str]:
    """Names the tests read and never assign: what they expect the program to define (the judge proxies those
    that neither its builtins, the tests' setup nor the prompt's code define)."""
    read, bound = set(), set()
    for unit in units:
        try:
            tree = ast.parse(unit)
        except (SyntaxError, ValueError):
            continue
        bound |= bound_names(tree)
        read |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    return sorted(read - bound)


def _start_candidate(isolation: Isolation, limits: Limits, support: cgroup.Support | None, cwd: str
                     ) -> prestart.Started:
    """The candidate harness, started in its sandbox (and its fresh cgroup) and waiting for its job on stdin."""
    calls_r, calls_w = os.pipe()
    reply_r, reply_w = os.pipe()
    filter_fd = seccomp.filter_fd() if isolation.name == "bwrap" else None
    candidate_fds = (calls_r, reply_w) + ((filter_fd,) if filter_fd is not None else ())
    group = None
    try:
        command = isolation.command(sandbox_python(), CALLEE_SOURCE, limits.workdir_bytes, filter_fd)
        if support is not None:  # every process the program starts shares one memory bound
            group = cgroup.CandidateCgroup(support, limits.memory_bytes, limits.processes)
            command = group.wrap(command)
        proc = subprocess.Popen(
            command, cwd=cwd, env=_env(),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            close_fds=True, pass_fds=candidate_fds,
        )
    except BaseException:
        if group is not None:
            group.remove()
        os.close(calls_w)
        os.close(reply_r)
        raise
    finally:
        for fd in (calls_r, reply_w, filter_fd):
            if fd is not None:
                os.close(fd)
    return prestart.Started(proc, group, calls_w, reply_r, calls_r, reply_w)


def _reap(proc):
    if isinstance(proc, judges.ForkedJudge):
        return proc.reap()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage


def prestart_key(isolation: Isolation, limits: Limits, support: cgroup.Support | None) -> tuple:
    """What a candidate started ahead must match to serve a check (``prestart.py``)."""
    return isolation, limits, support


def _run_as(job: Job, limits: Limits, isolation: Isolation, uid: int | None, support: cgroup.Support | None,
            ahead: bool = False) -> SandboxResult:
    with judges.server(_env()) as server:
        return _run_with(job, limits, isolation, uid, support, server, ahead)


def _run_with(job: Job, limits: Limits, isolation: Isolation, uid: int | None, support: cgroup.Support | None,
              server: judges.JudgeServer, ahead: bool) -> SandboxResult:
    scored = job.scored if job.scored is not None else program_units(
        job.units, job.setup, job.prefix, job.candidate, job.candidate is not None)
    cwd, scratch = isolation.workdir(uid)
    start = time.monotonic()
    procs: list = []
    key = prestart_key(isolation, limits, support)
    started = prestart.take(key) if isolation.name == "bwrap" else None
    try:
        if started is None:
            started = _start_candidate(isolation, limits, support, cwd)
        procs.append(started.proc)
        procs.append(server.spawn(started.calls_w, started.reply_r))  # a fork of the judge server (judge_server.py)
    except BaseException:
        for proc in procs:
            _kill_everything(proc.pid, uid)
            _reap(proc)
        if started is not None and started.group is not None:
            started.group.remove()
        raise
    finally:
        if started is not None:
            os.close(started.calls_w)
            os.close(started.reply_r)
    if ahead and isolation.name == "bwrap":  # the next check's candidate starts while this one runs (prestart.py)
        try:
            prestart.keep(key, _start_candidate(isolation, limits, support, "/"))
        except Exception:  # not this check's business: the next check starts its own
            log.debug("code sandbox: could not start the next candidate ahead", exc_info=True)
    candidate, judge = procs
    group = started.group
    callee_job = marshal.dumps({
        "program": job.program, "limits": limits.to_dict(), "uid": uid, "hidden": list(isolation.hidden),
        "count_strays": isolation.pid_namespace, "pin_import_paths": isolation.pin_import_paths,
        "prctl": not isolation.pid_namespace, "calls_fd": started.calls_fd, "reply_fd": started.reply_fd,
    })
    judge_job = marshal.dumps({
        "prefix": job.prefix, "setup": job.setup, "units": list(job.units), "names": free_names(job.units), "scored": list(scored),
        "entry_point": job.candidate,
        "candidate": job.candidate is not None, "stop_on_failure": job.stop_on_failure, "calls_fd": -1, "reply_fd": -1,
        "reply_bytes": limits.output_bytes, "cpu_seconds": limits.cpu_seconds, "memory_bytes": max(limits.memory_bytes, JUDGE_MEMORY),
        "hide": not isolation.pid_namespace and uid is None,
    })
    streams = _Streams()
    out, err = streams.add(candidate, callee_job, "candidate")
    verdict, judge_err = streams.add(judge, judge_job, "judge")
    caps = {"candidate": limits.output_bytes, "judge": JUDGE_OUTPUT + 16 * len(job.units)}
    stopped, lingered, judge_done_at = None, False, None
    try:
        while True:
            now = time.monotonic()
            if now >= start + limits.wall_seconds:
                stopped = L.WALL_TIME
                break
            # while the judge runs, its output (or end of file) wakes the select; once it has closed its pipes,
            # only polling sees the two processes exit, so poll often
            settling = not streams.open_readers((judge.stdout, judge.stderr))
            busy, over = streams.step(min(start + limits.wall_seconds - now, 0.001 if settling else 0.02), caps)
            if over:
                stopped = L.OUTPUT if over == "candidate" else "judge_output"
                break
            if judge_done_at is None and judge.exited():
                judge_done_at = time.monotonic()
            if judge_done_at is None or busy or streams.open_readers((judge.stdout, judge.stderr)):
                continue
            if _exited(candidate.pid):
                break
            if time.monotonic() - judge_done_at > LINGER_SECONDS:
                lingered = True
                break
    finally:
        try:
            if not judge.exited():
                _kill_everything(judge.pid, None)
            judge.reap()
        finally:
            if not _exited(candidate.pid):
                _kill_everything(candidate.pid, uid)
            usage = _reap(candidate)
            streams.close(procs)
    report, passed_units, scored_units = _read_verdict(verdict, len(job.units), scored)
    clean = (report is not None and report["limit"] not in (L.PROCESSES, L.STRAY_PROCESSES) and not report["strays"]
             and not lingered)
    strays = _kill_everything(candidate.pid, None if isolation.pid_namespace and clean else uid)
    peak, out_of_memory = None, False
    if group is not None:
        strays = group.kill() or strays
        peak, out_of_memory = group.peak(), group.out_of_memory()
        group.remove()
    if scratch:
        _remove_tree(scratch)
    cpu = usage.ru_utime + usage.ru_stime
    common = {"seconds": time.monotonic() - start, "cpu_seconds": cpu, "stdout": out[-_TAIL:].decode(errors="replace"),
              "stderr": err[-_TAIL:].decode(errors="replace"), "scored": scored_units, "scored_total": len(scored),
              "memory_peak": peak}
    total = len(job.units)

    def decide() -> SandboxResult:
        if stopped == L.WALL_TIME:
            return SandboxResult("limit", f"still running after the {limits.wall_seconds:g}s wall-clock limit; killed",
                                 L.WALL_TIME, passed_units, total, **common)
        if stopped == L.OUTPUT:
            return SandboxResult("limit", f"wrote more than {limits.output_bytes} bytes of output; killed", L.OUTPUT,
                                 passed_units, total, **common)
        if report is None:
            tail = judge_err[-_TAIL:].decode(errors="replace").strip().splitlines()[-1:] or [f"exit code {judge.returncode}"]
            why = "wrote too much" if stopped else tail[0]
            return SandboxResult("error", f"the judge ended without a verdict ({why})"[:300], None, passed_units, total, **common)
        status, detail, limit = report["status"], report["detail"], report["limit"]
        if status == "passed" and passed_units != total:  # a pass is every unit seen passing, nothing less
            status, detail = "failed", f"the judge reported {passed_units} of {total} test(s) passed"
        if status == "gone":
            exited = _classify_exit(candidate.returncode, isolation, limits, cpu, total, common)
            if exited.limit or exited.detail.startswith("killed"):
                return dataclasses.replace(exited, passed=passed_units)
            return SandboxResult("error", f"{detail} ({exited.detail})"[:300], None, passed_units, total, **common)
        if status == "passed" and (lingered or report["strays"] or (strays and not isolation.pid_namespace)):
            return SandboxResult("limit", "left processes running after it finished; killed", L.STRAY_PROCESSES,
                                 passed_units, total, **common)
        return SandboxResult(status, detail, limit, passed_units, total, **common)

    result = decide()
    if out_of_memory and not result.ok and result.limit not in (L.WALL_TIME, L.OUTPUT):
        # the kernel killed a process of the program for its cgroup's memory limit: that is what went wrong
        return dataclasses.replace(result, status="limit", limit=L.MEMORY, detail=(
            f"its processes together used more than {limits.memory_bytes} bytes of memory; the kernel killed "
            f"{'it' if result.status == 'gone' else 'one of them'} ({result.detail})")[:300])
    return result


def _classify_exit(code: int, isolation: Isolation, limits: Limits, cpu: float, total: int, common: dict) -> SandboxResult:
    """The program stopped answering before the tests finished: name the signal or exit code that ended it."""
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


def _read_verdict(text: bytearray, total: int, scored: tuple[int, ...] = ()) -> tuple[dict | None, int, int]:
    """The judge's final report (None when there is none), the units it counted as passed, and of those the
    ones in ``scored`` that it saw call the program (``scored <i>``).

    Only the judge writes here, but the check must not fail on any bytes whatsoever: every field is checked,
    and the passed count is the number of distinct unit indices the judge reported, clamped to ``total``."""
    report, passed, called = None, set(), set()
    for raw in bytes(text).splitlines():
        kind, _, rest = raw.partition(b" ")
        if kind == b"passed" and rest.isdigit() and len(rest) < 9 and int(rest) < total:
            passed.add(int(rest))
        elif kind == b"scored" and rest.isdigit() and len(rest) < 9 and int(rest) < total:
            called.add(int(rest))
        elif kind == b"result":
            try:
                value = json.loads(rest)
            except (ValueError, RecursionError):
                continue
            if isinstance(value, dict):
                report = value
    if report is not None:
        status = report.get("status")
        report = {
            "status": status if status in _STATUSES else "error",
            "limit": report.get("limit") if report.get("limit") in L.ALL_LIMITS else None,
            "detail": report.get("detail")[:300] if isinstance(report.get("detail"), str) else "",
            "strays": report.get("strays") if type(report.get("strays")) is int else 0,
        }
        if report["status"] == "limit" and report["limit"] is None:
            report["status"] = "error"
    return report, min(len(passed), total), len(called & passed & set(scored))


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
