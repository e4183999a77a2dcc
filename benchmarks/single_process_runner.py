"""The trusted half of a sandboxed run: executed *inside* the sandbox as ``python -I -S -c <this file>``.

The host never imports this module; it reads its text and passes it on the command line, so nothing in the
sandbox needs the boostlora package (home directories, where a venv often lives, are hidden there). It uses
the standard library only.

Only its ``main`` lives here: ``benchmarks/code_sandbox.py`` runs it after the helpers of
``boostlora_plugins/code/callee.py`` (rlimits, dropping root, naming the limit behind an exception), which are the
same in both designs, so the comparison times the designs and not two copies of the helpers.

Why a runner at all, rather than running the program as a script: the runner sets the rlimits and drops root
*after* the Python interpreter has started (so the interpreter itself is never starved), runs each test as a
separate unit (so a graded reward can count them), and turns the exception that stopped a program into the
name of the limit it hit. It proves that the tests ran to the end by writing a per-run nonce that the program
never sees on stdin or argv: ``sys.exit(0)``/``os._exit(0)`` in model code therefore reads as a failure,
never as a pass.

Protocol: one job on stdin (``marshal``: both sides are the same interpreter, and unlike ``json`` it costs no
import, a third of this runner's start-up); one line ``<nonce><repr of the result dict>`` on stdout at the end.
"""

STRAY_PROCESSES = "stray_processes"


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
