"""The candidate's side of a check: runs model-written code *inside* the sandbox and answers calls to it.

Executed as ``python -I -S -c <wire.py + this file>``: the host never imports it, so nothing in the sandbox
needs the boostlora package. Standard library only.

Nothing here is trusted. This process runs the model's code, so the code can rewrite every line below, forge
any answer and exit at any moment. That is why this side decides nothing: it never sees a test or an expected
value, it only receives calls as plain data (``wire.py``), runs the named function and sends back its value
as plain data, or the name of the exception it raised. The verdict is made by ``judge.py`` in another process.
What this harness does honestly (for honest programs): apply the rlimits and drop root *after* the
interpreter has started (so the interpreter itself is never starved), name the limit behind an exception so
a report can tell "out of memory" from "tried the network", and count processes left behind at the end.

Protocol. stdin: one job (``marshal``). Call fd (from the judge): lines in wire format, ``op`` being
``call`` or ``finish``. Reply fd (to the judge): one line per event, ``loaded <json>``
once the program has run (``{}`` or an error), then per call ``m <wire changes>`` when it changed a mutable
argument, followed by ``v <wire value>``, ``g <wire list>`` (a returned iterator, materialised) or
``e <json error>``, and ``s <count of stray processes>`` for ``finish``. A call is
``[op, name, args, kwargs, aliases]``, ``aliases`` pairing an argument key with the earlier key of the same
object in the judge (one list passed twice).
"""

import errno
import marshal
import os
import resource
import sys

MEMORY, PROCESSES, FILE_SIZE, NETWORK = "memory", "processes", "file_size", "network"
READ_ONLY, HIDDEN_PATH, PERMISSION, PROCESS_ISOLATION = "read_only_fs", "hidden_path", "permission", "process_isolation"

ARGS_BYTES = 4096  # an exception's arguments cross when their wire text is at most this long
_NETWORK_ERRNOS = {errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTUNREACH, errno.ECONNREFUSED, errno.EADDRNOTAVAIL}


def _under(path, roots):
    path = os.path.abspath(os.fsdecode(path))
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _limit_of(exc, hidden):
    """The name of the sandbox limit behind ``exc`` (following causes), or None for an ordinary error."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, MemoryError):
            return MEMORY
        if isinstance(exc, RuntimeError) and "new thread" in str(exc):
            return PROCESSES
        if type(exc).__name__ in ("gaierror", "herror"):
            return NETWORK
        if isinstance(exc, OSError):
            code, filename = exc.errno, exc.filename
            if code == errno.EROFS:
                return READ_ONLY
            for name in (exc.filename, getattr(exc, "filename2", None)):
                if isinstance(name, (str, bytes)) and os.path.isabs(os.fsdecode(name)) and _under(name, hidden):
                    return HIDDEN_PATH
            if code in (errno.EFBIG, errno.ENOSPC, errno.EDQUOT):
                return FILE_SIZE
            if code == errno.EAGAIN and isinstance(exc, BlockingIOError) and filename is None:
                return PROCESSES
            if code in _NETWORK_ERRNOS:
                return NETWORK
            if code == errno.ENOMEM:
                return MEMORY
            if code == errno.ESRCH:
                return PROCESS_ISOLATION
            if code in (errno.EACCES, errno.EPERM):
                return PERMISSION
        exc = exc.__cause__ or exc.__context__ or getattr(exc, "reason", None)
        if not isinstance(exc, BaseException):
            return None
    return None


def _describe(exc):
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:300]


def _apply_limits(limits):
    cpu = int(limits["cpu_seconds"])
    settings = [
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (int(limits["memory_bytes"]),) * 2),
        (resource.RLIMIT_FSIZE, (int(limits["file_size_bytes"]),) * 2),
        (resource.RLIMIT_NPROC, (int(limits["processes"]),) * 2),
        (resource.RLIMIT_NOFILE, (int(limits["open_files"]),) * 2),
        (resource.RLIMIT_CORE, (0, 0)),
    ]
    for which, value in settings:
        resource.setrlimit(which, value)


def _drop_privileges(uid):
    """As root (bwrap without a user namespace, or the fallback), become an unprivileged, otherwise unused uid.

    RLIMIT_NPROC is never enforced for root, and root could write wherever a mount is not read-only.
    """
    if uid is None or os.geteuid() != 0:
        return
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _pin_import_paths():
    """Keep the standard library importable after dropping root when a directory above it is closed to others
    (pyenv under /root): open each import directory now and import through /proc/self/fd, which checks
    permissions only below the opened directory."""
    pinned = {}
    for i, path in enumerate(sys.path):
        if os.path.isdir(path):
            pinned[path] = sys.path[i] = f"/proc/self/fd/{os.open(path, os.O_RDONLY | os.O_DIRECTORY)}"

    def repin(entry):
        for real, fd_path in pinned.items():
            if entry == real or entry.startswith(real + "/"):
                return fd_path + entry[len(real):]
        return entry

    for module in list(sys.modules.values()):  # packages imported at start-up (collections, encodings) too
        search = getattr(module, "__path__", None)
        if isinstance(search, list):
            search[:] = [repin(p) for p in search]
    sys.path_importer_cache.clear()


def _libc():
    try:
        import ctypes  # imported while still root: afterwards the standard library may be out of reach

        return ctypes.CDLL(None, use_errno=True)
    except Exception:
        return None


def _prctl(libc, option, value):
    if libc is not None:
        libc.prctl(option, value, 0, 0, 0)


def _no_new_privileges(libc):
    _prctl(libc, 38, 1)  # PR_SET_NO_NEW_PRIVS: setuid binaries stay powerless
    _prctl(libc, 4, 1)  # PR_SET_DUMPABLE: dropping root cleared it, which would close /proc/self/fd to us


def _stray_processes():
    """Live processes other than the namespace's init and this harness (only meaningful in a pid namespace)."""
    me, count = os.getpid(), 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in (1, me):
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            count += 1
    return count


def _send(fd, kind, text):
    data = (kind + " " + text + "\n").encode("utf-8", "surrogatepass")
    while data:
        data = data[os.write(fd, data):]


def _error(exc, hidden, status=None):
    limit = _limit_of(exc, hidden)
    # the nearest builtin class of a program's own exception class (``class Invalid(ValueError)``), so a test's
    # ``except ValueError`` catches it in the judge as it would in one process
    try:
        base = next((c.__name__ for c in type(exc).__mro__ if c.__module__ == "builtins"), "")
    except BaseException:  # a class of the program's that lies about itself: no base, a non-builtin error
        base = ""
    info = {"status": status or ("limit" if limit else "error"), "limit": limit, "type": type(exc).__name__,
            "base": base, "detail": _describe(exc), "message": str(exc)[:300]}
    try:  # the arguments, so a test reading ``exc.args`` sees them (the judge rebuilds builtin exceptions only)
        args = dumps(tuple(exc.args))
        if len(args) <= ARGS_BYTES:
            info["args"] = args
    except BaseException:
        pass
    return _CODEC[0](info)  # wire.py's JSON encoder: importing ``json`` here would cost every failing program ~13 ms


MAX_ITEMS = 100_000  # a returned iterator is materialised up to this many items; a longer one is an error


def _materialised(value):
    """A returned generator or iterator as a list of at most MAX_ITEMS items (the judge rebuilds an iterator over
    it). The program's own code runs here, so an exception it raises while iterating is the call's exception."""
    if not hasattr(type(value), "__next__"):
        return None
    import itertools

    items = list(itertools.islice(value, MAX_ITEMS + 1))
    if len(items) > MAX_ITEMS:
        raise WireError(f"returned an iterator of more than {MAX_ITEMS} items")
    return items


def _arguments(args, kwargs, aliases):
    """The mutable arguments of a call by key (position or keyword name), with the judge's aliasing restored:
    an argument the judge passed twice is one object here too."""
    def get(key):
        return args[key] if type(key) is int else kwargs[key]

    for key, first in aliases:
        value = get(first)  # KeyError / IndexError: a malformed call, reported as an error
        if type(key) is int:
            args[key] = value
        else:
            kwargs[key] = value
    aliased = {key for key, _ in aliases}
    keys = [i for i in range(len(args))] + list(kwargs)
    return {key: get(key) for key in keys if key not in aliased and type(get(key)) in MUTABLE}


def _changes(before, mutable):
    """``[key, state]`` for each mutable argument whose plain-data state differs from the one it arrived with."""
    changes = []
    for key, value in mutable.items():
        try:
            state = dumps(value)
        except WireError as exc:
            raise WireError(f"argument {key!r} holds something that is not plain data after the call ({exc})") from None
        if state != before[key]:
            changes.append([key, value])
    return changes


def _serve(job, namespace, calls, reply, hidden):
    """Answer the judge's calls until it says ``finish`` or goes away.

    Per call: ``m <changes>`` first when the call changed a mutable argument (list, dict, set, bytearray, ...),
    then ``v <value>``, ``g <items>`` for a returned iterator, or ``e <error>``."""
    while True:
        line = calls.readline()
        if not line:
            return
        try:
            op, name, args, kwargs, aliases = loads(line.decode())
            mutable = _arguments(args, kwargs, aliases)
            before = {key: dumps(value) for key, value in mutable.items()}
        except Exception as exc:
            _send(reply, "e", _error(exc, hidden))
            continue
        if op == "finish":
            _send(reply, "s", str(_stray_processes() if job.get("count_strays") else 0))
            return
        kind, text = "v", None
        try:
            function = namespace.get(name)
            if not callable(function):
                raise NameError(f"name '{name}' is not defined by the solution")
            value = function(*args, **kwargs)
            items = _materialised(value)
            if items is not None:
                kind, value = "g", items
        except BaseException as exc:
            kind, text = "e", _error(exc, hidden)
        try:
            changes = _changes(before, mutable)
            if changes:
                _send(reply, "m", dumps(changes))
            if text is None:
                text = dumps(value)
        except Exception as exc:  # WireError: not plain data
            kind, text = "e", _error(exc, hidden)
        _send(reply, kind, text)


def main():
    job = marshal.loads(sys.stdin.buffer.read())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    hidden = job.get("hidden") or []
    calls, reply = os.fdopen(job["calls_fd"], "rb"), job["reply_fd"]

    libc = _libc() if job.get("prctl") else None  # bwrap already sets no_new_privs; ctypes costs ~10 ms
    if job.get("pin_import_paths"):
        _pin_import_paths()
    _apply_limits(job["limits"])
    _drop_privileges(job.get("uid"))
    _no_new_privileges(libc)
    os.environ.pop("PYTHONSTARTUP", None)

    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        code = compile(job["program"], "<solution>", "exec")
    except (SyntaxError, ValueError) as exc:
        _send(reply, "loaded", _error(exc, hidden, "syntax_error"))
        os._exit(0)
    try:
        exec(code, namespace)
    except BaseException as exc:
        _send(reply, "loaded", _error(exc, hidden))
        os._exit(0)
    _send(reply, "loaded", "{}")
    _serve(job, namespace, calls, reply, hidden)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(0)


if __name__ == "__main__":
    main()
