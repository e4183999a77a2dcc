"""The host's side of the judge server: start it, have it fork one judge per check, and keep a few idle.

``judge_server.py`` says why a check's judge is a fork of a long-lived server rather than a new interpreter
(about 20 ms of start-up and imports per check) and why that carries nothing from one candidate to the next.
Here: the server's life cycle, and a handle on a forked judge that offers what ``sandbox.py`` needs of a
``subprocess.Popen`` (``pid``, the three pipes, ``returncode``), with ``exited`` and ``reap`` going through the
server, whose child the judge is. A judge stays a zombie until the host reaps it, so its pid (and process
group) can be signalled safely until then.

No library: ``multiprocessing``'s fork server pickles a callable from an importable module and keeps its own
descriptor bookkeeping; the judge is a ``-c`` text that must not import the boostlora package, and it needs
exactly five descriptors in known places.

A server that dies, stops answering (``REPLY_SECONDS``) or answers nonsense raises ``JudgeServerError``; the
check fails with that reason (``run_job`` never raises) and the server is replaced on the next check.
"""

from __future__ import annotations

import atexit
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_HERE = Path(__file__).parent
REPLY_SECONDS = 10.0  # a fork or a waitpid takes microseconds; a server this slow is broken


def _judge_definitions() -> str:
    """``judge.py`` without its ``if __name__ == "__main__"`` block: the server calls ``main`` in each fork."""
    text = (_HERE / "judge.py").read_text()
    guard = '\nif __name__ == "__main__":'
    if guard not in text:
        raise RuntimeError("judge.py lost its __main__ guard; the judge server needs its definitions only")
    return text[: text.rindex(guard)]


SERVER_SOURCE = "\n\n".join(
    ((_HERE / "wire.py").read_text(), _judge_definitions(), (_HERE / "judge_server.py").read_text()))


class JudgeServerError(RuntimeError):
    """The judge server died or broke its protocol."""


class ForkedJudge:
    """One judge forked by the server: ``pid``, the host's ends of its stdin/stdout/stderr, and its exit code."""

    def __init__(self, server: JudgeServer, pid: int, stdin: int, stdout: int, stderr: int) -> None:
        self.server, self.pid = server, pid
        self.stdin, self.stdout, self.stderr = os.fdopen(stdin, "wb"), os.fdopen(stdout, "rb"), os.fdopen(stderr, "rb")
        self.returncode: int | None = None
        try:  # readable once the judge has exited: asking the server instead waits for it to be scheduled
            self.pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):  # before Linux 5.3
            self.pidfd = None

    def exited(self) -> bool:
        """Whether it has exited, without reaping it. With a broken server, True: the server is killed when the
        check ends (``server``), and its judges die with it (``PR_SET_PDEATHSIG``)."""
        if self.pidfd is not None:
            return bool(select.select([self.pidfd], [], [], 0)[0])
        try:
            return self.server.ask(b"P%d" % self.pid) == "1"
        except JudgeServerError:
            return True

    def reap(self) -> None:
        try:
            self.returncode = int(self.server.ask(b"R%d" % self.pid))
        except JudgeServerError:
            self.returncode = -signal.SIGKILL
        finally:
            if self.pidfd is not None:
                os.close(self.pidfd)
                self.pidfd = None


class JudgeServer:
    """A running ``judge_server.py`` and the host's end of its control socket."""

    def __init__(self, env: dict[str, str]) -> None:
        host, server = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", SERVER_SOURCE, str(server.fileno())], cwd="/", env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True, close_fds=True, pass_fds=(server.fileno(),))
        except BaseException:
            host.close()
            raise
        finally:
            server.close()
        host.settimeout(REPLY_SECONDS)
        self.control = host
        self.broken = False

    def ask(self, message: bytes, fds: tuple[int, ...] = ()) -> str:
        try:
            if fds:
                socket.send_fds(self.control, [message], list(fds))
            else:
                self.control.send(message)
            reply = self.control.recv(64).decode("ascii", "replace")
        except OSError as exc:  # includes the timeout
            self.broken = True
            raise JudgeServerError(f"the judge server stopped answering ({type(exc).__name__})") from None
        if not reply or not reply.lstrip("-").isdigit():
            self.broken = True
            raise JudgeServerError("the judge server died" if not reply else "the judge server broke its protocol")
        return reply

    def spawn(self, calls_w: int, reply_r: int) -> ForkedJudge:
        """Fork a judge holding ``calls_w`` and ``reply_r`` (the caller closes its copies) and new stdio pipes."""
        pipes = [os.pipe() for _ in range(3)]
        child_ends = (pipes[0][0], pipes[1][1], pipes[2][1])
        try:
            pid = int(self.ask(b"S", child_ends + (calls_w, reply_r)))
        except BaseException:
            for r, w in pipes:
                os.close(r)
                os.close(w)
            raise
        for fd in child_ends:
            os.close(fd)
        return ForkedJudge(self, pid, pipes[0][1], pipes[1][0], pipes[2][0])

    def close(self) -> None:
        """Stop the server (its judges die with it) and reap it."""
        self.control.close()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()


_idle: list[JudgeServer] = []
_lock = threading.Lock()


@contextmanager
def server(env: dict[str, str]) -> Iterator[JudgeServer]:
    """An idle judge server for one check (a new one when none is idle); back to the idle list afterwards unless
    it broke. One server serves one check at a time, so a pool of parallel checks holds one each."""
    with _lock:
        held = _idle.pop() if _idle else None
    if held is None or held.process.poll() is not None:
        if held is not None:
            held.close()
        held = JudgeServer(env)
    try:
        yield held
    finally:
        if held.broken or held.process.poll() is not None:
            held.close()
        else:
            with _lock:
                _idle.append(held)


@atexit.register
def _close_all() -> None:
    with _lock:
        while _idle:
            _idle.pop().close()
