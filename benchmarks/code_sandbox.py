"""Cost of the code sandbox on the 164 HumanEval canonical solutions.

Three questions, side by side in one run:

* Overhead: seconds per program inside the sandbox vs a bare ``python -c program`` subprocess (the same
  program, its tests and the ``check(candidate)`` call, no isolation, no limits), one program at a time.
  Each isolation level that works on this machine is measured (bwrap, the unshare fallback, and rlimits
  only, which separates the harness's own cost from the namespaces').
* The price of the two-process judge: the same programs through the earlier single-process runner
  (``single_process_runner.py``: tests and program in one interpreter, which a program can subvert), under
  the same isolation, so the difference is the judge process and the calls across the pipes.
* Throughput: programs per second of the parallel checker with 1 and 2 (or ``--workers``) workers, both designs.

    python benchmarks/code_sandbox.py [--repeat 1] [--workers 1 2] [--levels bwrap unshare rlimits] [--json out.json]

Run it on an otherwise idle machine: other processes on the same cores inflate every number.
"""

from __future__ import annotations

import argparse
import ast
import json
import marshal
import secrets
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from boostlora import ConfigError
from boostlora_plugins.code import cgroup
from boostlora_plugins.code.checker import Checker
from boostlora_plugins.code.data import load_humaneval_package
from boostlora_plugins.code.extract import assemble
from boostlora_plugins.code.isolation import sandbox_python, select
from boostlora_plugins.code.limits import Limits
from boostlora_plugins.code.sandbox import _claimed_uid

def single_process_runner() -> str:
    """The earlier runner's source: the candidate harness's shared helpers, then the runner's own ``main``."""
    from boostlora_plugins.code import callee

    helpers = Path(callee.__file__).read_text()
    helpers = helpers[: helpers.index("\ndef _send(")]
    return helpers + "\n\n" + (Path(__file__).parent / "single_process_runner.py").read_text()


SINGLE_PROCESS_RUNNER = single_process_runner()


def bare_program(problem) -> str:
    """What a sandbox-free checker would run: the program, the tests, the check call."""
    body = problem.reference[len(problem.prefix):]
    return f"{problem.prefix}{body}\n\n{problem.setup}\n\ndef check(candidate):\n" + "\n".join(
        "    " + line for unit in problem.units for line in unit.splitlines()
    ) + f"\n\ncheck({problem.entry_point})\n"


def time_bare(problems) -> tuple[float, int]:
    start, passed = time.perf_counter(), 0
    for problem in problems:
        done = subprocess.run([sys.executable, "-I", "-S", "-c", bare_program(problem)], capture_output=True, timeout=60)
        passed += done.returncode == 0
    return time.perf_counter() - start, passed


def single_process_check(problem, isolation, limits: Limits, support=None) -> bool:
    """One canonical solution through the earlier design: tests and program in one sandboxed interpreter
    (in a memory cgroup of its own, as the checker's candidate is, when ``support`` is a ``cgroup.Support``)."""
    program = assemble(problem.prefix, problem.reference[len(problem.prefix):], problem.entry_point)
    nonce = secrets.token_hex(16)

    def run(uid):
        job = {"program": program, "setup": problem.setup, "units": list(problem.units), "candidate": problem.entry_point,
               "stop_on_failure": True, "limits": limits.to_dict(), "uid": uid, "nonce": nonce,
               "hidden": list(isolation.hidden), "count_strays": isolation.pid_namespace,
               "pin_import_paths": isolation.pin_import_paths, "prctl": not isolation.pid_namespace}
        cwd, scratch = isolation.workdir(uid)
        command = isolation.command(sandbox_python(), SINGLE_PROCESS_RUNNER, limits.workdir_bytes)
        group = cgroup.CandidateCgroup(support, limits.memory_bytes, limits.processes) if support else None
        try:
            done = subprocess.run(group.wrap(command) if group else command, input=marshal.dumps(job),
                                  capture_output=True, timeout=60, cwd=cwd, start_new_session=True)
        finally:
            if group:
                group.remove()
        if scratch:
            subprocess.run(["rm", "-rf", scratch])
        out = done.stdout
        at = out.rfind(("\n" + nonce).encode())
        if at < 0:
            return False
        line = out[at + 33:].split(b"\n", 1)[0]
        return ast.literal_eval(line.decode()).get("status") == "passed"

    if not isolation.drops_root:
        return run(None)
    with _claimed_uid() as uid:
        return run(uid)


def time_single_process(problems, level: str, workers: int, support=None) -> tuple[float, int]:
    isolation, limits = select(level), Limits()
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        passed = sum(pool.map(lambda p: single_process_check(p, isolation, limits, support), problems))
    return time.perf_counter() - start, passed


def time_checker(problems, level: str, workers: int) -> tuple[float, int]:
    checker = Checker(isolation=select(level), workers=workers)
    bodies = [p.reference[len(p.prefix):] for p in problems]
    start = time.perf_counter()
    results = checker.check_many(problems, bodies)
    return time.perf_counter() - start, sum(r.ok for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="repetitions of each measurement (the median is kept)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--levels", nargs="+", default=["bwrap", "unshare", "rlimits"])
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args()

    problems = load_humaneval_package()
    n = len(problems)
    numbers: dict = {"programs": n, "overhead_s_per_program": {}, "single_process_s_per_program": {},
                     "throughput_programs_per_s": {}}

    def median(fn, *fn_args):
        runs = [fn(*fn_args) for _ in range(args.repeat)]
        return statistics.median(r[0] for r in runs), runs[-1][1]

    seconds, passed = median(time_bare, problems)
    bare = numbers["overhead_s_per_program"]["bare_subprocess"] = seconds / n
    print(f"bare subprocess                {bare * 1000:7.1f} ms/program  ({passed}/{n} pass)")
    for level in args.levels:
        try:
            select(level)
        except ConfigError as exc:
            print(f"{level:<30} unavailable: {exc}")
            continue
        seconds, passed = median(time_checker, problems, level, 1)
        numbers["overhead_s_per_program"][level] = seconds / n
        print(f"{level:<8} judge + candidate      {seconds / n * 1000:7.1f} ms/program  (+{(seconds / n - bare) * 1000:.1f} ms; {passed}/{n} pass)")
        seconds, passed = median(time_single_process, problems, level, 1)
        numbers["single_process_s_per_program"][level] = seconds / n
        print(f"{level:<8} single process (before) {seconds / n * 1000:6.1f} ms/program  (+{(seconds / n - bare) * 1000:.1f} ms; {passed}/{n} pass)")
    name = select("auto").name
    for workers in args.workers:
        seconds, passed = median(time_checker, problems, "auto", workers)
        numbers["throughput_programs_per_s"][f"{name}_workers_{workers}"] = n / seconds
        print(f"checker {name}, {workers} worker(s), judge + candidate: {n / seconds:6.1f} programs/s ({seconds:.1f}s for {n}; {passed} pass)")
        seconds, passed = median(time_single_process, problems, "auto", workers)
        numbers["throughput_programs_per_s"][f"single_process_{name}_workers_{workers}"] = n / seconds
        print(f"checker {name}, {workers} worker(s), single process:    {n / seconds:6.1f} programs/s ({seconds:.1f}s for {n}; {passed} pass)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(numbers, fh, indent=2)


if __name__ == "__main__":
    main()
