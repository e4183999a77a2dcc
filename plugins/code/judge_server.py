"""A judge server: one interpreter, started once, that forks a fresh judge for each check.

Executed as ``python -I -S -c <wire.py + judge.py's definitions + this file> <socket fd>`` by the host
(``judges.py``), outside every sandbox, like the judge itself. Standard library only.

Why. A judge started as its own interpreter spends about 20 ms before it reads its job: the interpreter, then
``json`` and ``collections`` for ``wire.py`` (``-X frozen_modules=on`` is already the default and changes
nothing). This process pays that once, together with the modules prompts import most (``typing``,
``math``), and then forks: a forked child starts with the imports done and runs ``judge.main`` on its job.

Why a fork carries nothing from one candidate to the next. This process never reads a job, a test or a
byte a candidate wrote: it only receives the five descriptors of one check (the job's stdin, the verdict's
stdout, stderr, and the two ends of the call channel) and forks. Every judge is a copy of that same pristine
state, serves one candidate, and exits; whatever its tests or its candidate's replies changed (a module
attribute, the ``random`` state, a cache) dies with it. ``tests/code/test_judge_server.py`` shows a judge
that sees nothing a previous one left in a module.

Why candidates cannot reach it. It holds no descriptor a candidate holds (the host's socket is a socketpair
only the host has the other end of; the check's descriptors are closed here right after the fork). Under
bubblewrap it is outside the candidate's pid namespace; as root the candidate runs as an unused uid. In the
fallback without root the candidate shares this user, so the server is made non-dumpable (no ``/proc/<pid>/mem``,
``fd`` or ``ptrace`` for the same uid, inherited by every judge it forks); such a candidate can still kill it,
and then its judges die with it (``PR_SET_PDEATHSIG``): a failing verdict, as when it kills a judge, and the
host starts a new server.

Protocol (``SOCK_SEQPACKET``, one message each way): ``S`` with the five descriptors: fork a judge, reply with
its pid; ``P<pid>``: ``1`` when that judge has exited (it stays a zombie, so its pid is not reused), else
``0``; ``R<pid>``: reap it, reply with its exit code. End of file: exit.
"""

import ctypes
import math  # noqa: F401 - imported once here instead of in every judge (HumanEval prompts)
import signal
import socket
import typing  # noqa: F401 - as above: ``from typing import List`` costs a judge several ms

_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE = 1, 4


def _run_judge(libc, server, fds):
    """The forked child: become the judge of one check, on the descriptors the host sent."""
    try:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != server:  # the server died before the line above: nobody would reap this judge
            os._exit(1)
        os.setsid()  # its own process group: the host kills the group, as for a judge it started itself
        stdin, stdout, stderr, calls, reply = fds
        for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(fd, target)
            os.close(fd)
        main(calls, reply)
    except SystemExit as exc:
        os._exit(exc.code if isinstance(exc.code, int) else 1)
    except BaseException:
        try:
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(1)
    os._exit(0)


def _waited(pid, reap):
    try:
        if reap:
            return str(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        return "1" if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None else "0"
    except ChildProcessError:
        return "1" if not reap else "-9"


def serve():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    control = socket.socket(fileno=int(sys.argv[1]))
    me = os.getpid()
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 64, 5)
        except OSError:
            return
        if not message:
            return  # the host is gone
        op, argument = message[:1], message[1:]
        if op == b"S" and len(fds) == 5:
            pid = os.fork()
            if pid == 0:
                control.close()
                _run_judge(libc, me, fds)
            reply = str(pid)
        elif op in (b"P", b"R") and argument.isdigit():
            reply = _waited(int(argument), op == b"R")
        else:
            reply = "?"
        for fd in fds:
            os.close(fd)
        control.send(reply.encode())


serve()
