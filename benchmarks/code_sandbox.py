"""Cost of the code sandbox on the 164 HumanEval canonical solutions.

Two questions, the ones the code plugin's issue asks:

* Overhead: seconds per program inside the sandbox vs a bare ``python -c program`` subprocess (the same
  program, its tests and the ``check(candidate)`` call, no isolation, no limits), one program at a time.
  Each isolation level that works on this machine is measured (bwrap, the unshare fallback, and rlimits
  only, which separates the runner's own cost from the namespaces').
* Throughput: programs per second of the parallel checker with 1 and 2 (or ``--workers``) workers.

    python benchmarks/code_sandbox.py [--repeat 1] [--workers 1 2] [--levels bwrap unshare rlimits] [--json out.json]

Run it on an otherwise idle machine: other processes on the same cores inflate every number.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from boostlora import ConfigError
from boostlora_plugins.code.checker import Checker
from boostlora_plugins.code.data import load_humaneval_package
from boostlora_plugins.code.isolation import select


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
    numbers: dict = {"programs": n, "overhead_s_per_program": {}, "throughput_programs_per_s": {}}

    def median(fn, *fn_args):
        runs = [fn(*fn_args) for _ in range(args.repeat)]
        return statistics.median(r[0] for r in runs), runs[-1][1]

    seconds, passed = median(time_bare, problems)
    numbers["overhead_s_per_program"]["bare_subprocess"] = seconds / n
    print(f"bare subprocess      {seconds / n * 1000:7.1f} ms/program  ({passed}/{n} pass)")
    for level in args.levels:
        try:
            select(level)
        except ConfigError as exc:
            print(f"{level:<20} unavailable: {exc}")
            continue
        seconds, passed = median(time_checker, problems, level, 1)
        numbers["overhead_s_per_program"][level] = seconds / n
        extra = seconds / n - numbers["overhead_s_per_program"]["bare_subprocess"]
        print(f"sandbox {level:<12} {seconds / n * 1000:7.1f} ms/program  (+{extra * 1000:.1f} ms; {passed}/{n} pass)")
    level = "auto"
    for workers in args.workers:
        seconds, passed = median(time_checker, problems, level, workers)
        numbers["throughput_programs_per_s"][f"{select(level).name}_workers_{workers}"] = n / seconds
        print(f"checker {select(level).name}, {workers} worker(s): {n / seconds:6.1f} programs/s ({seconds:.1f}s for {n}; {passed} pass)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(numbers, fh, indent=2)


if __name__ == "__main__":
    main()
