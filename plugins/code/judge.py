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

Call semantics. A proxy call behaves like a call in one process as far as plain data allows:

- Mutable arguments (``list``, ``dict``, ``set``, ``bytearray``, ``Counter``, ``OrderedDict``,
  ``defaultdict``) come back: the candidate reports the post-call state of each one the call changed, and
  this process updates its own objects in place (``lst[:] = new``, ``d.clear()`` then item by item), so an
  in-place sort passes ``xs = [3, 1, 2]; f(xs); assert xs == [1, 2, 3]`` and a program that mutates an
  input it should leave alone fails "input unchanged" tests. The same object passed twice (``f(xs, xs)``) is
  one object in the candidate too. This holds even when the call raised.
- A returned generator or iterator is materialised by the candidate (at most ``MAX_ITEMS`` = 100,000 items,
  more is an error) and arrives as an iterator over a list, so ``list(f(3)) == [0, 1, 2]`` passes and
  ``f(3) == [0, 1, 2]`` still fails, as it would in one process.
- An exception that is a builtin ``Exception`` is raised here as this process's own builtin, built from the
  program's arguments when they are plain data (``KeyError('k').args == ('k',)``), else from its message. An
  exception of the program's own class is raised as its nearest builtin base (``class Invalid(ValueError)``
  arrives as ``ValueError``), so ``except ValueError`` catches it as in one process.

Not faithful, and why:

- Only the top-level objects of a call's arguments keep their identity: a list nested in an argument is
  replaced by an equal new list, so a test holding its own name for the inner list does not see the change.
  Aliasing below the top level (one list inside two arguments) is not reproduced. Each object would have to
  carry an identity across the wire, and the candidate's claims about identity would have to be checked.
- An argument the program keeps and changes in a *later* call is not sent back then: only the arguments of
  the current call are compared.
- An exception raised while the program's iterator is consumed is raised by the call itself (the
  candidate consumes it before replying), and an infinite iterator is an error rather than a lazy stream.
- Arguments that are not plain data (functions, iterators, objects of the tests' classes) fail the call, and so
  do results that are neither plain data nor iterators (dict views, objects of the program's classes); a
  ``defaultdict`` whose factory is not a builtin type loses its factory (see ``wire.py``); an exception never
  arrives as the program's own class, only as its builtin base (``isinstance(e, Invalid)`` cannot hold).

Started two ways: as its own interpreter (``python -I -S -c``), or, the default, forked for one job by a
judge server (``judge_server.py``) that has already started an interpreter and imported these definitions,
which saves a check about 20 ms of start-up and imports. Either way this process serves exactly one candidate.

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


ARGS_BYTES = 4096  # the longest exception-argument text taken from the candidate (it sends at most this much)


def _mutable_arguments(args, kwargs):
    """The call's mutable arguments by key (position or keyword), and ``[key, first key]`` for each one that is
    the same object as an earlier argument, so the candidate can pass one object twice as well."""
    mutable, aliases, seen = {}, [], {}
    for key, value in list(enumerate(args)) + list(kwargs.items()):
        if type(value) not in MUTABLE:
            continue
        if id(value) in seen:
            aliases.append([key, seen[id(value)]])
        else:
            seen[id(value)] = key
            mutable[key] = value
    return mutable, aliases


def _apply_changes(mutable, changes):
    """Make this process's arguments hold what the program left in its copies (``[key, state]`` pairs): the
    objects keep their identity, so the test's own names see the change. The new contents are values this
    process decoded (``wire.loads``); a nested container is replaced by an equal new one."""
    if type(changes) is not list:
        raise TypeError("changes must be a list")
    for change in changes:
        if type(change) is not list or len(change) != 2 or change[0] not in mutable:
            raise TypeError("a change names no mutable argument of the call")
        target, state = mutable[change[0]], change[1]
        if isinstance(target, (list, bytearray)) and type(state) is type(target):
            target[:] = state
        elif isinstance(target, set) and type(state) is set:
            target.clear()
            target.update(state)
        elif isinstance(target, dict) and isinstance(state, dict):
            target.clear()
            for key, value in state.items():  # item by item: OrderedDict keeps its order, Counter adds nothing
                target[key] = value
        else:
            raise TypeError(f"{type(target).__name__} argument {change[0]!r} came back as a {type(state).__name__}")


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
            return {"status": "error", "limit": None, "type": "", "base": "", "detail": "malformed error from the candidate",
                    "message": "", "args": None}
        limit = info.get("limit") if info.get("limit") in _KNOWN_LIMITS else None
        status = info.get("status") if info.get("status") in ("error", "limit", "syntax_error") else "error"
        args = info.get("args") if isinstance(info.get("args"), str) and len(info["args"]) <= ARGS_BYTES else None
        return {"status": "limit" if limit else status, "limit": limit, "type": _text(info.get("type"), 80),
                "base": _text(info.get("base"), 80), "detail": _text(info.get("detail")),
                "message": _text(info.get("message")), "args": args}

    def _send(self, op, name="", args=(), kwargs=None, aliases=()):
        data = (dumps([op, name, list(args), dict(kwargs or {}), list(aliases)]) + "\n").encode()
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
        mutable, aliases = _mutable_arguments(args, kwargs)
        self._send("call", name, args, kwargs, aliases)  # WireError here: the tests passed something that is not data
        kind, payload = self._read()
        if kind == "m":
            try:
                _apply_changes(mutable, loads(payload))
            except (WireError, TypeError, ValueError) as exc:
                raise CandidateError(f"{name} sent back its arguments in a form that is not theirs ({exc})") from None
            kind, payload = self._read()
        if kind in ("v", "g", "e"):
            self.calls_made += 1
        if kind in ("v", "g"):
            try:
                value = loads(payload)
            except WireError as exc:
                raise CandidateError(f"{name} returned something that is not plain data ({exc})") from None
            if kind == "g":
                if type(value) is not list:
                    raise CandidateError(f"{name} returned an iterator that did not arrive as a list")
                return iter(value)
            return value
        if kind != "e":
            raise CandidateGone("the candidate broke the protocol")
        info = self._error(payload)
        if info["limit"]:
            self.limit = info["limit"]
            raise CandidateGone(f"{name}: {info['detail']}")
        exc_type = getattr(builtins, info["type"], None)
        if not (isinstance(exc_type, type) and issubclass(exc_type, BaseException)):
            exc_type = getattr(builtins, info["base"], None)  # a class of the program's: its nearest builtin base
        # StopIteration from the program is an ordinary error: re-raised as itself it would end a test's
        # ``all(map(f, xs))`` early, and an empty ``all`` passes.
        if exc_type in (StopIteration, StopAsyncIteration):
            raise CandidateError(info["detail"] or info["type"])
        if isinstance(exc_type, type) and issubclass(exc_type, Exception) and exc_type.__module__ == "builtins":
            try:  # the judge's own builtin exception, with the program's arguments when they crossed as data
                exc_args = loads(info["args"]) if info["args"] is not None else (info["message"],)
                error = exc_type(*exc_args) if type(exc_args) is tuple else exc_type(info["message"])
            except (WireError, TypeError, ValueError):  # constructors that want other arguments
                error = None
            if error is not None:
                raise error
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


def main(calls_fd=None, reply_fd=None):
    """Run one job read from stdin. ``calls_fd``/``reply_fd``: the call channel's descriptors in this process when
    they differ from the job's numbers (a judge forked by ``judge_server.py`` received them over a socket)."""
    job = marshal.loads(sys.stdin.buffer.read())
    if calls_fd is not None:
        job["calls_fd"], job["reply_fd"] = calls_fd, reply_fd
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

    namespace = {"__name__": "__judge__", "__builtins__": builtins}
    if job.get("prefix"):
        try:  # the prompt's helpers, trusted; loading a problem checks that its prompt runs (data.check_prefixes)
            exec(compile(job["prefix"], "<prompt>", "exec"), namespace)
        except Exception as exc:  # never a silent fallback: the tests' helpers would become proxies to the program
            report(status="error", detail=f"the problem's prompt code does not run in the judge: {_describe(exc)}")
    remote = Remote(job["calls_fd"], job["reply_fd"], int(job["reply_bytes"]))
    try:
        failure = remote.load()
    except CandidateGone as exc:
        report(status="gone", detail=str(exc))
    if failure is not None:
        head = "" if failure["status"] == "syntax_error" else "solution: "
        report(status=failure["status"], limit=failure["limit"], detail=head + failure["detail"])

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
