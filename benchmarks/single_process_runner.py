"""The trusted half of a sandboxed run: executed *inside* the sandbox as ``python -I -S -c <this file>``.

The host never imports this module; it reads its text and passes it on the command line, so nothing in the
sandbox needs the boostlora package (home directories, where a venv often lives, are hidden there). It uses
the standard library only.

Why a runner at all, rather than running the program as a script: the runner sets the rlimits and drops root
*after* the Python interpreter has started (so the interpreter itself is never starved), runs each test as a
separate unit (so a graded reward can count them), and turns the exception that stopped a program into the
name of the limit it hit. It proves that the tests ran to the end by writing a per-run nonce that the program
never sees on stdin or argv: ``sys.exit(0)``/``os._exit(0)`` in model code therefore reads as a failure,
never as a pass.

Protocol: one job on stdin (``marshal``: both sides are the same interpreter, and unlike ``json`` it costs no
import, a third of this runner's start-up); one line ``<nonce><repr of the result dict>`` on stdout at the end.
"""

import errno
import marshal
import os
import resource
import sys

MEMORY, PROCESSES, FILE_SIZE, NETWORK = "memory", "processes", "file_size", "network"
READ_ONLY, HIDDEN_PATH, PERMISSION, PROCESS_ISOLATION = "read_only_fs", "hidden_path", "permission", "process_isolation"
STRAY_PROCESSES = "stray_processes"

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
    """Live processes other than the namespace's init and this runner (only meaningful in a pid namespace)."""
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


def main():
    job = marshal.loads(sys.stdin.buffer.read())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    main_pid = os.getpid()
    nonce = job.pop("nonce")
    hidden = job.get("hidden") or []
    result = {"status": "error", "limit": None, "detail": "", "passed": 0, "total": len(job["units"])}

    def report():
        if os.getpid() != main_pid:  # a forked child of the program unwinding through here: stay silent
            os._exit(1)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        if job.get("count_strays") and result["status"] == "passed":
            strays = _stray_processes()
            if strays:
                result.update(status="limit", limit=STRAY_PROCESSES, detail=f"{strays} process(es) still running at exit")
        os.write(1, ("\n" + nonce + repr(result) + "\n").encode())
        os._exit(0)

    def stop(exc, where):
        limit = _limit_of(exc, hidden)
        status = "limit" if limit else "error"
        result.update(status=status, limit=limit, detail=f"{where}: {_describe(exc)}")
        report()

    libc = _libc() if job.get("prctl") else None  # bwrap already sets no_new_privs; ctypes costs ~10 ms
    if job.get("pin_import_paths"):
        _pin_import_paths()
    _apply_limits(job["limits"])
    _drop_privileges(job.get("uid"))
    _no_new_privileges(libc)
    os.environ.pop("PYTHONSTARTUP", None)

    namespace = {"__name__": "__sandbox__", "__builtins__": __builtins__}
    try:
        code = compile(job["program"], "<solution>", "exec")
    except (SyntaxError, ValueError) as exc:
        result.update(status="syntax_error", detail=_describe(exc))
        report()
    try:
        exec(code, namespace)
    except BaseException as exc:
        stop(exc, "solution")
    try:
        exec(compile(job["setup"], "<tests>", "exec"), namespace)
        if job.get("candidate"):
            if job["candidate"] not in namespace:
                raise NameError(f"entry point '{job['candidate']}' is not defined by the solution")
            namespace["candidate"] = namespace[job["candidate"]]
    except BaseException as exc:
        stop(exc, "test setup")
    first_failure = ""
    for index, unit in enumerate(job["units"]):
        try:
            exec(compile(unit, f"<test {index}>", "exec"), namespace)
            result["passed"] += 1
        except BaseException as exc:
            if _limit_of(exc, hidden):
                stop(exc, f"test {index}")
            if not first_failure:
                line = unit.strip().splitlines()[0][:160] if unit.strip() else ""
                first_failure = f"test {index} ({line}): {_describe(exc)}"
            if job.get("stop_on_failure", True):
                break
    if result["passed"] == result["total"]:
        result.update(status="passed", detail=f"{result['total']} test(s) passed")
    else:
        result.update(status="failed", detail=first_failure)
    report()


if __name__ == "__main__":
    main()
