"""Where one code check's time goes, and two versions of the checker side by side in one run.

Two parts, both one check at a time (1 worker), on the first ``--programs`` HumanEval canonical solutions:

* ``--stages``: the median cost of each step of a check with the code in this checkout: an interpreter start,
  bubblewrap around it, the candidate's memory cgroup (made, joined through ``/bin/sh``, emptied, removed), the
  judge started as its own interpreter (the earlier design) or forked by the judge server (this one), and a
  whole check; what a whole check costs beyond the candidate and the judge is the protocol and the host's
  bookkeeping.
* ``--baseline DIR``: seconds per program of five designs, measured in ``--rounds`` rounds in A B C D E E D C B A
  order, each measurement in a fresh process, so that a machine whose load drifts favours none: the checker of
  the boostlora version importable from ``DIR`` (e.g. ``git archive main core plugins`` unpacked there, with
  ``boostlora`` and ``boostlora_plugins`` links as in a development install), the checker of this checkout,
  the earlier single-process runner (``single_process_runner.py``) as it was measured before, the same runner in
  a memory cgroup of its own (the bound the checker's candidate has), and a bare subprocess
  (``code_sandbox.py`` says what each runs). The median of each design is reported.

    python benchmarks/code_check_cost.py --stages --baseline /tmp/old --programs 50 --rounds 2 --json out.json

Run it on a quiet machine with ``OMP_NUM_THREADS=1``; the numbers of one run compare, numbers of two runs do not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DESIGNS = ("baseline", "checker", "single_process", "single_process_cgroup", "bare")


def _problems(count: int):
    from boostlora_plugins.code.data import load_humaneval_package

    return load_humaneval_package()[:count]


def measure(design: str, count: int, workers: int = 1) -> float:
    """Seconds per program of ``design`` over the first ``count`` problems, ``workers`` checks at a time (run in
    a process of its own)."""
    sys.path.insert(0, str(HERE))
    import code_sandbox

    problems = _problems(count)
    if design in ("baseline", "checker"):
        seconds, passed = code_sandbox.time_checker(problems, "bwrap", workers)
    elif design == "single_process":
        seconds, passed = code_sandbox.time_single_process(problems, "bwrap", workers)
    elif design == "single_process_cgroup":  # the same memory bound as the checker's candidate
        from boostlora_plugins.code import cgroup

        support = cgroup.probe()
        if not isinstance(support, cgroup.Support):
            raise SystemExit(f"single_process_cgroup: no cgroup here ({support})")
        seconds, passed = code_sandbox.time_single_process(problems, "bwrap", workers, support)
    else:
        seconds, passed = code_sandbox.time_bare(problems)
    if passed != len(problems):
        raise SystemExit(f"{design}: only {passed} of {len(problems)} canonical solutions passed")
    return seconds / len(problems)


def _median_ms(fn, times: int) -> float:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def stages(count: int) -> dict[str, float]:
    """Median milliseconds of each step of a check, ``count`` samples each, in this checkout."""
    import marshal

    from boostlora_plugins.code import cgroup, judges, seccomp
    from boostlora_plugins.code.checker import Checker
    from boostlora_plugins.code.isolation import sandbox_python, select
    from boostlora_plugins.code.limits import Limits
    from boostlora_plugins.code.sandbox import JUDGE_SOURCE, _env

    isolation, limits, python = select("bwrap"), Limits(), sandbox_python()
    support = cgroup.probe()

    def sandboxed(wrap):
        fd = seccomp.filter_fd()
        group = cgroup.CandidateCgroup(support, limits.memory_bytes, limits.processes) if wrap else None
        command = isolation.command(python, "pass", limits.workdir_bytes, fd)
        subprocess.run(group.wrap(command) if group else command, pass_fds=(fd,), env=_env(), cwd="/", check=True)
        os.close(fd)
        if group:
            group.kill()
            group.peak()
            group.out_of_memory()
            group.remove()

    def cgroup_alone():
        cgroup.CandidateCgroup(support, limits.memory_bytes, limits.processes).remove()

    def empty_job(calls_w: int, reply_r: int) -> bytes:
        """A job whose candidate is already gone: the judge reads it, finds the channel closed and reports."""
        return marshal.dumps({"units": ["pass"], "prefix": "", "setup": "", "names": [], "scored": [],
                              "calls_fd": calls_w, "reply_fd": reply_r, "cpu_seconds": 10, "memory_bytes": 1 << 30,
                              "reply_bytes": 1 << 20})

    def channel() -> tuple[int, int]:
        calls_r, calls_w = os.pipe()
        reply_r, reply_w = os.pipe()
        os.close(calls_r)
        os.close(reply_w)
        return calls_w, reply_r

    def judge_interpreter():  # the earlier design: the judge as its own interpreter
        calls_w, reply_r = channel()
        done = subprocess.run([sys.executable, "-I", "-S", "-c", JUDGE_SOURCE], input=empty_job(calls_w, reply_r),
                              capture_output=True, env=_env(), cwd="/", pass_fds=(calls_w, reply_r), check=False)
        os.close(calls_w)
        os.close(reply_r)
        assert b'"gone"' in done.stdout, done

    server = judges.JudgeServer(_env())
    server.ask(b"P1")  # started and answering

    def judge_fork():  # this design: forked by the judge server
        calls_w, reply_r = channel()
        judge = server.spawn(calls_w, reply_r)
        judge.stdin.write(empty_job(-1, -1))  # the fork's own descriptor numbers replace these
        judge.stdin.close()
        out = judge.stdout.read()
        judge.stderr.read()
        judge.reap()
        os.close(calls_w)
        os.close(reply_r)
        assert b'"gone"' in out, out

    checker = Checker(isolation=isolation, workers=1)
    problems = _problems(count)
    bodies = iter([p.reference[len(p.prefix):] for p in problems] * 2)
    rounds = iter(problems * 2)
    steps = {
        "interpreter (python -I -S -c pass)": lambda: subprocess.run([python, "-I", "-S", "-c", "pass"], check=True),
        "bwrap + interpreter": lambda: sandboxed(False),
        "cgroup create + remove (no process)": cgroup_alone,
        "cgroup + bwrap + interpreter (join, kill, remove)": lambda: sandboxed(True),
        "judge as its own interpreter": judge_interpreter,
        "judge forked by the judge server": judge_fork,
        "whole check, one at a time (none started ahead)": lambda: checker.check(next(rounds), next(bodies)),
    }
    try:
        return {name: _median_ms(fn, count) for name, fn in steps.items()}
    finally:
        server.close()


def compare(baseline: str, count: int, rounds: int, workers: int = 1, designs=DESIGNS) -> dict[str, list[float]]:
    """Seconds per program of each design, forwards then backwards, ``rounds`` times; each sample a fresh process."""
    order = list(designs) + list(reversed(designs))
    samples: dict[str, list[float]] = {d: [] for d in designs}
    for _ in range(rounds):
        for design in order:
            env = dict(os.environ, OMP_NUM_THREADS="1")
            if design == "baseline":
                env["PYTHONPATH"] = baseline
            done = subprocess.run([sys.executable, __file__, "--measure", design, "--programs", str(count),
                                   "--workers", str(workers)], env=env,
                                  capture_output=True, text=True, check=True)
            samples[design].append(float(done.stdout.strip().splitlines()[-1]))
            print(f"  {design:<22} {samples[design][-1] * 1000:7.1f} ms/program", flush=True)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=50)
    parser.add_argument("--stages", action="store_true", help="time each step of a check")
    parser.add_argument("--baseline", help="PYTHONPATH of the boostlora version to compare against")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the comparison (each: every design forwards, then backwards)")
    parser.add_argument("--workers", type=int, default=1, help="checks at a time in the comparison (bare: always 1)")
    parser.add_argument("--designs", nargs="+", choices=DESIGNS, default=list(DESIGNS), help="designs to compare")
    parser.add_argument("--measure", choices=DESIGNS, help=argparse.SUPPRESS)
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args()
    if args.measure:
        print(measure(args.measure, args.programs, args.workers))
        return
    numbers: dict = {"programs": args.programs}
    if args.stages:
        numbers["stages_ms"] = stages(args.programs)
        for name, ms in numbers["stages_ms"].items():
            print(f"{name:<52} {ms:7.1f} ms")
    if args.baseline:
        samples = compare(args.baseline, args.programs, args.rounds, args.workers, args.designs)
        numbers["ms_per_program_samples"] = {d: [s * 1000 for s in v] for d, v in samples.items()}
        numbers["ms_per_program_median"] = {d: statistics.median(v) * 1000 for d, v in samples.items()}
        for design, ms in numbers["ms_per_program_median"].items():
            print(f"{design:<22} median {ms:7.1f} ms/program")
    if args.json:
        Path(args.json).write_text(json.dumps(numbers, indent=2))


if __name__ == "__main__":
    main()
