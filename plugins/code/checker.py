"""Judge answers to code problems: assemble the program, run it in the sandbox in parallel, make a verdict.

Bad input never raises here: an empty answer, a problem without tests or a program that does not compile
all become a failing result with the reason, so one odd completion cannot stop a boosting run.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from boostlora import ConfigError, Verdict

from . import cgroup, memory, prestart
from .data import Problem, program_units
from .extract import assemble
from .isolation import Isolation, select
from .limits import Limits
from .sandbox import Job, SandboxResult, prestart_key, run_job


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def build_job(problem: Problem, answer: str) -> Job:
    """The sandbox job for ``answer`` to ``problem`` (the answer is extracted and joined to the prompt's code)."""
    return Job(
        program=assemble(problem.prefix, answer, problem.entry_point),
        units=problem.units, setup=problem.setup, candidate=problem.entry_point if problem.candidate else None,
        prefix=problem.prefix,
        scored=program_units(problem.units, problem.setup, problem.prefix, problem.entry_point, problem.candidate),
    )


def to_verdict(result: SandboxResult, graded: bool = False) -> Verdict:
    """A verdict whose detail starts with the status (and the limit, when one stopped the program)."""
    head = f"limit {result.limit}" if result.limit else result.status
    # Graded: only units that call the program count, so an ``assert True`` pays nothing to a program that raises.
    score = (min(1.0, max(0.0, result.scored / result.scored_total)) if graded and result.scored_total
             else (0.0 if graded else None))
    return Verdict(correct=result.ok, detail=_printable(f"{head}: {result.detail}"), score=score)


def _printable(text: str) -> str:
    """``text`` without control characters (the program's messages reach logs and terminals through the detail)."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


class Checker:
    """Runs programs against tests under one set of limits and one isolation, ``workers`` at a time."""

    def __init__(self, limits: Limits | None = None, isolation: str | Isolation = "auto", workers: int | None = None,
                 stop_on_failure: bool = True) -> None:
        self.limits = limits or Limits()
        self.isolation = isolation if isinstance(isolation, Isolation) else select(isolation)
        cores = available_cores()
        if workers is not None and workers < 1:
            raise ConfigError(f"sandbox workers must be at least 1, got {workers}")
        self.workers = min(workers or cores, cores)
        self.stop_on_failure = stop_on_failure
        self.cgroups = cgroup.probe()  # a memory cgroup per program where this machine allows one, else rlimits
        self.memory_mechanism = memory.mechanism(self.cgroups)
        self.memory_bound = memory.log_once(self.limits, self.isolation.name, self.cgroups)

    def check(self, problem: Problem, answer: object, ahead: bool = False) -> SandboxResult:
        """Run ``answer`` against ``problem``'s tests; a result, never an exception. ``ahead``: another check follows
        (its candidate starts while this one runs; see ``prestart.py``)."""
        if not problem.units:
            return SandboxResult("no_tests", f"problem {problem.task_id} has no tests; nothing can show the answer is right")
        if not isinstance(answer, str) or not answer.strip():
            return SandboxResult("no_code", "the answer is empty" if isinstance(answer, str) else
                                 f"the answer is a {type(answer).__name__}, not text", total=len(problem.units))
        try:
            job = build_job(problem, answer)
        except Exception as exc:  # extraction of a pathological answer: a failing verdict, not a crash
            return SandboxResult("no_code", f"the answer could not be read as code: {type(exc).__name__}", total=len(problem.units))
        if not self.stop_on_failure:
            job = dataclasses.replace(job, stop_on_failure=False)
        return run_job(job, self.limits, self.isolation, self.cgroups, ahead)

    def check_many(self, problems: Sequence[Problem], answers: Sequence[object]) -> list[SandboxResult]:
        """``check`` over pairs, in parallel, results in input order."""
        if len(problems) != len(answers):
            raise ConfigError(f"{len(problems)} problems but {len(answers)} answers")
        # every check but the last ``workers`` starts the candidate of a check still to come
        aheads = [i < len(problems) - self.workers for i in range(len(problems))]
        try:
            if self.workers == 1 or len(problems) < 2:
                return [self.check(p, a, ahead) for p, a, ahead in zip(problems, answers, aheads)]
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                return list(pool.map(self.check, problems, answers, aheads))
        finally:  # none waits between batches
            support = self.cgroups if isinstance(self.cgroups, cgroup.Support) else None
            prestart.discard(prestart_key(self.isolation, self.limits, support))
