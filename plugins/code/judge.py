"""The trusted side of a check: holds the tests, calls the candidate through a proxy, and counts what passed.

Executed as ``python -I -S -c <wire.py + this file>`` by the host, *outside* the candidate's sandbox. Standard
library only.

Why two processes. When the tests and the model's code share one interpreter, everything the test runner
holds is reachable from the model's code: its frames and locals (``sys._getframe``), closures, ``gc``,
builtins, modules, the test source and stdout. A completion can rewrite the runner's counters, patch
``AssertionError`` or return an object whose ``__eq__`` always says yes. Here the model's code never runs in
this process: the candidate process (``callee.py``, in the sandbox) runs it, and this process calls it
through ``Remote`` proxies. Arguments and results cross as text and are rebuilt by ``wire.loads``, which
makes only builtin values, so every ``==`` and every ``assert`` in the tests runs on values this process built,
with this process's builtins. Anything that is not plain data fails the call.

Why the candidate cannot reach this process. The host gives it no handle on this process: the candidate only
holds the two pipe ends of the call protocol, never this process's stdout (the report channel) nor its
stdin (the tests). Under bubblewrap the candidate lives in another pid namespace, so this process does not
exist for it; as root the candidate runs as an unused uid, which may not signal, trace or read root's
processes. Where neither holds (the unshare fallback without root), ``hide`` makes this process
non-dumpable, which closes ``/proc/<pid>/mem``, ``fd``, ``environ`` and ``ptrace`` to the same uid; the
candidate can still kill it, which is a failing verdict (the host never saw a report).

The tests themselves are trusted: they come from the dataset, like the configuration. The prompt's own
code (``prefix``: HumanEval's imports and helpers such as ``poly``) is executed here too, so a test that
calls a helper uses the dataset's helper, not the candidate's version of it; a name the tests use that
neither the tests nor the prompt define becomes a proxy for the candidate's function of that name (MBPP's
``assert f(x) == y``). The host finds those names (``sandbox.free_names``), which spares this process the
import of ``ast``, a third of its start-up.

Protocol. stdin: one job (``marshal``). stdout (read only by the host): ``passed <i>`` after each passing
unit, so a graded count survives a later timeout, ``scored <i>`` after it when the unit is one a graded score
counts (it uses the program, by the host's reading of its code) and it did call the program, and a final
``result <json>`` line.
"""

import builtins
import json
import marshal
import os
import resource
import sys

_KNOWN_LIMITS = ("memory", "processes", "file_size", "network", "read_only_fs", "hidden_path", "permission",
                 "process_isolation", "cpu_time", "wall_time", "output", "stray_processes")


class CandidateGone(BaseException):
    """The candidate stopped answering: it exited, closed the channel, broke the protocol or hit a limit.

    A ``BaseException``, so a test's own ``except Exception`` cannot swallow it and go on to pass."""


class CandidateError(Exception):
    """The candidate raised an exception that is not a builtin ``Exception`` (or claimed a limit)."""


def _text(value, size=300):
    return value[:size] if isinstance(value, str) else ""


class Remote:
    """The candidate process, as seen from the judge: load it, call functions in it, finish it."""

    def __init__(self, calls_fd, reply_fd, reply_cap):
        self.calls, self.reply = calls_fd, os.fdopen(reply_fd, "rb")
        self.cap = reply_cap
        self.limit = None  # a limit the candidate reported (advisory: it only ever makes a verdict worse)
        self.calls_made = 0  # calls answered with a value or an exception: a unit that made none tested nothing

    def _read(self):
        line = self.reply.readline(self.cap + 1)
        if not line:
            raise CandidateGone("the candidate exited before the tests finished")
        if len(line) > self.cap or not line.endswith(b"\n"):
            raise CandidateGone(f"the candidate sent a reply over {self.cap} bytes")
        kind, _, payload = line[:-1].partition(b" ")
        try:
            return kind.decode("ascii"), payload.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise CandidateGone("the candidate sent a reply that is not text") from None

    def _error(self, payload):
        """A dict with status, limit, type and detail from the candidate's error text (never raises)."""
        try:
            info = json.loads(payload)
        except Exception:
            info = None
        if not isinstance(info, dict):
            return {"status": "error", "limit": None, "type": "", "detail": "malformed error from the candidate",
                    "message": ""}
        limit = info.get("limit") if info.get("limit") in _KNOWN_LIMITS else None
        status = info.get("status") if info.get("status") in ("error", "limit", "syntax_error") else "error"
        return {"status": "limit" if limit else status, "limit": limit, "type": _text(info.get("type"), 80),
                "detail": _text(info.get("detail")), "message": _text(info.get("message"))}

    def _send(self, op, name="", args=(), kwargs=None):
        data = (dumps([op, name, list(args), dict(kwargs or {})]) + "\n").encode()
        try:
            while data:
                data = data[os.write(self.calls, data):]
        except OSError:
            raise CandidateGone("the candidate closed its end of the call channel") from None

    def load(self):
        """None when the program ran, else the error dict of why it did not."""
        kind, payload = self._read()
        if kind != "loaded":
            raise CandidateGone("the candidate broke the protocol")
        if payload == "{}":
            return None
        return self._error(payload)

    def call(self, name, args, kwargs):
        self._send("call", name, args, kwargs)  # WireError here: the tests passed something that is not data
        kind, payload = self._read()
        if kind in ("v", "e"):
            self.calls_made += 1
        if kind == "v":
            try:
                return loads(payload)
            except WireError as exc:
                raise CandidateError(f"{name} returned something that is not plain data ({exc})") from None
        if kind != "e":
            raise CandidateGone("the candidate broke the protocol")
        info = self._error(payload)
        if info["limit"]:
            self.limit = info["limit"]
            raise CandidateGone(f"{name}: {info['detail']}")
        exc_type = getattr(builtins, info["type"], None)
        # StopIteration from the program is an ordinary error: re-raised as itself it would end a test's
        # ``all(map(f, xs))`` early, and an empty ``all`` passes.
        if exc_type in (StopIteration, StopAsyncIteration):
            raise CandidateError(info["detail"] or info["type"])
        if isinstance(exc_type, type) and issubclass(exc_type, Exception) and exc_type.__module__ == "builtins":
            try:
                raise exc_type(info["message"])
            except TypeError:  # exception classes whose constructor wants other arguments
                pass
        raise CandidateError(info["detail"] or info["type"])

    def finish(self):
        """Ask for the count of processes the program left running (advisory); 0 when it does not say."""
        self._send("finish")
        kind, payload = self._read()
        return int(payload) if kind == "s" and payload.isdigit() and len(payload) < 6 else 0

    def function(self, name):
        def proxy(*args, **kwargs):
            return self.call(name, args, kwargs)

        proxy.__name__ = proxy.__qualname__ = name
        return proxy


def _describe(exc):
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:300]


def _not_dumpable():
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0


def main():
    job = marshal.loads(sys.stdin.buffer.read())
    out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):  # the tests' own prints go nowhere; only this harness writes reports
        os.dup2(devnull, fd)
    os.close(devnull)
    if job.get("hide"):
        _not_dumpable()
    cpu = int(job["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (int(job["memory_bytes"]),) * 2)
    units = job["units"]
    result = {"status": "error", "limit": None, "detail": "", "passed": 0, "strays": 0}

    def emit(line):
        data = (line + "\n").encode()
        while data:
            data = data[os.write(out, data):]

    def report(**fields):
        result.update(fields)
        emit("result " + json.dumps(result))
        os._exit(0)

    remote = Remote(job["calls_fd"], job["reply_fd"], int(job["reply_bytes"]))
    try:
        failure = remote.load()
    except CandidateGone as exc:
        report(status="gone", detail=str(exc))
    if failure is not None:
        head = "" if failure["status"] == "syntax_error" else "solution: "
        report(status=failure["status"], limit=failure["limit"], detail=head + failure["detail"])

    namespace = {"__name__": "__judge__", "__builtins__": builtins}
    if job.get("prefix"):
        try:  # the prompt's helpers, trusted; a prompt that does not run alone simply adds nothing
            exec(compile(job["prefix"], "<prompt>", "exec"), namespace)
        except Exception:
            namespace = {"__name__": "__judge__", "__builtins__": builtins}
    try:
        exec(compile(job["setup"], "<tests>", "exec"), namespace)
    except Exception as exc:
        report(status="error", detail=f"test setup: {_describe(exc)}")
    entry = job.get("entry_point")
    names = {n for n in job["names"] if n not in namespace and not hasattr(builtins, n)}
    if entry:
        names.add(entry)
    for name in names:
        namespace[name] = remote.function(name)
    if job.get("candidate"):
        namespace["candidate"] = remote.function(entry)

    first_failure, passed = "", 0
    scored = set(job.get("scored", range(len(units))))
    for index, unit in enumerate(units):
        calls_before = remote.calls_made
        try:
            exec(compile(unit, f"<test {index}>", "exec"), namespace)
        except CandidateGone as exc:
            status = "limit" if remote.limit else "gone"
            report(status=status, limit=remote.limit, passed=passed, detail=f"test {index}: {exc}")
        except BaseException as exc:  # noqa: BLE001 - a failing test, whatever it raised
            if not first_failure:
                line = unit.strip().splitlines()[0][:160] if unit.strip() else ""
                first_failure = f"test {index} ({line}): {_describe(exc)}"
            if job.get("stop_on_failure", True):
                break
        else:
            passed += 1
            emit(f"passed {index}")
            if index in scored and remote.calls_made > calls_before:
                emit(f"scored {index}")
    try:
        strays = remote.finish()
    except CandidateGone:
        strays = 0
    if passed == len(units):
        report(status="passed", passed=passed, strays=strays, detail=f"{passed} test(s) passed")
    report(status="failed", passed=passed, strays=strays, detail=first_failure)


if __name__ == "__main__":
    main()
