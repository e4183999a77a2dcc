"""The judge: tests run in their own process and reach the program only through plain-data calls."""

from __future__ import annotations

import dataclasses

import pytest

from boostlora_plugins.code import limits as L
from boostlora_plugins.code.checker import Checker, to_verdict
from boostlora_plugins.code.data import Problem
from boostlora_plugins.code.sandbox import Job, run_job

from .conftest import TIGHT


def _check(isolation, problem, answer, graded=False):
    checker = Checker(TIGHT, isolation, workers=1, stop_on_failure=not graded)
    result = checker.check(problem, f"```python\n{answer}\n```")
    return result, to_verdict(result, graded=graded)


def test_expected_exceptions_cross_as_builtin_types(isolation):
    unit = "try:\n    root(-1)\nexcept ValueError:\n    pass\nelse:\n    raise AssertionError('no ValueError')"
    problem = Problem("j/raise", "root", "root", ("assert root(4) == 2.0", unit))
    honest = "def root(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x ** 0.5"
    assert _check(isolation, problem, honest)[0].ok
    wrong = "def root(x):\n    return abs(x) ** 0.5"
    result, _ = _check(isolation, problem, wrong)
    assert result.status == "failed" and "test 1" in result.detail and "no ValueError" in result.detail


def test_prompt_helpers_are_the_judges_own(isolation):
    prefix = "def double(x):\n    return 2 * x\n\n\ndef half_of(x):\n    \"\"\"x / 2\"\"\"\n"
    problem = Problem("j/helper", prefix, "half_of", ("assert double(candidate(6)) == 6",), prefix=prefix, candidate=True)
    assert _check(isolation, problem, "def half_of(x):\n    return x // 2")[0].ok
    cheat = "def double(x):\n    return 6\n\n\ndef half_of(x):\n    return 0"
    assert _check(isolation, problem, cheat)[0].status == "failed"


def test_container_results_compare_by_value(isolation):
    answer = ("def stats(xs):\n    return (min(xs), max(xs)), {x % 2 for x in xs}, {x: str(x) for x in xs}, "
              "bytes(xs), frozenset(xs), complex(1, 2), None")
    units = ("assert stats([1, 2]) == ((1, 2), {0, 1}, {1: '1', 2: '2'}, b'\\x01\\x02', frozenset({1, 2}), 1+2j, None)",
             "assert isinstance(stats([3])[0], tuple) and type(stats([3])[1]) is set")
    assert _check(isolation, Problem("j/types", "", "stats", units), answer)[0].ok


def test_graded_score_counts_units_the_judge_saw_pass(isolation):
    problem = Problem("j/graded", "", "inc", ("assert inc(1) == 2", "assert inc(2) == 3", "assert inc(-5) == -4"))
    result, verdict = _check(isolation, problem, "def inc(x):\n    return x + 1 if x > 0 else 0", graded=True)
    assert (result.passed, result.total) == (2, 3) and verdict.score == pytest.approx(2 / 3) and not verdict.correct


def test_a_timeout_keeps_the_units_already_passed(isolation):
    problem = Problem("j/slow", "", "inc", ("assert inc(1) == 2", "assert inc(0) == 1"))
    answer = "def inc(x):\n    import time\n    while x == 0:\n        time.sleep(1)\n    return x + 1"
    job = Job(answer, problem.units, stop_on_failure=False)
    result = run_job(job, dataclasses.replace(TIGHT, wall_seconds=1.5), isolation)
    assert (result.status, result.limit, result.passed) == ("limit", L.WALL_TIME, 1)
    assert to_verdict(result, graded=True).score == 0.5


def test_arguments_that_are_not_data_fail_the_test(isolation):
    problem = Problem("j/arg", "", "apply", ("assert apply(lambda v: v, 3) == 3",))
    result, _ = _check(isolation, problem, "def apply(f, x):\n    return f(x)")
    assert result.status == "failed" and "not plain data" in result.detail


def test_the_candidate_never_receives_the_tests(isolation):
    """The program's whole world is its stdin job and the calls: print everything it can find."""
    # the marker as a whole number: inside a hex address (``<object at 0x7f84721a...>``) it would be chance
    spy = ("import gc, re, sys\nseen = repr(gc.get_objects()) + repr(sys.modules['__main__'].__dict__)\n"
           "def probe(x):\n    now = repr(gc.get_objects())\n    marker = re.compile(r'(?<![0-9A-Za-z])' + str(int('8472') * 10 + 1) + r'(?![0-9A-Za-z])')\n"
           "    print(bool(marker.search(seen)), bool(marker.search(now)))\n    return x\n")
    # repr of every live object is heavy: a budget that a loaded machine cannot turn into a timeout verdict
    roomy = dataclasses.replace(TIGHT, wall_seconds=60, cpu_seconds=10)
    result = run_job(Job(spy, ("assert probe(3) == 84721",)), roomy, isolation)
    assert result.status == "failed" and result.stdout.split() == ["False", "False"]


def test_units_that_never_call_the_program_do_not_pay(isolation):
    """``assert True`` passes whatever the answer: a program that always raises (or returns None) earns nothing
    from it, while the all-or-nothing verdict still needs every unit."""
    problem = Problem("j/free", "", "inc", ("assert True", "assert inc(1) == 2", "assert True, 'debug'",
                                             "x = 3\nassert x == 3"))
    for cheat in ("def inc(x):\n    raise SystemExit(0)", "def inc(x):\n    raise ValueError", "def inc(x):\n    return None",
                  "import sys\ndef inc(x):\n    sys.exit(0)"):
        result, verdict = _check(isolation, problem, cheat, graded=True)
        assert verdict.score == 0.0 and not verdict.correct and (result.scored, result.scored_total) == (0, 1), result
    result, verdict = _check(isolation, problem, "def inc(x):\n    return x + 1", graded=True)
    assert verdict.correct and verdict.score == 1.0 and (result.passed, result.total, result.scored_total) == (4, 4, 1)


def test_a_unit_counts_only_when_it_really_called_the_program(isolation):
    """A unit that names the program only on a path it never takes is counted in the total but can never score."""
    problem = Problem("j/dead", "", "inc", ("assert inc(1) == 2", "if False:\n    inc(0)\nassert True"))
    result, verdict = _check(isolation, problem, "def inc(x):\n    return x + 1", graded=True)
    assert result.ok and (result.scored, result.scored_total) == (1, 2) and verdict.score == 0.5


def test_helpers_that_call_the_program_make_their_units_count():
    from boostlora_plugins.code.data import program_units

    units = ("def check_one(x):\n    assert candidate(x) == x + 1", "assert True", "check_one(3)", "assert poly([1], 2) == 1")
    assert program_units(units, setup="", prefix="def poly(xs, x):\n    return xs[0]", entry_point="inc",
                         candidate=True) == (0, 2)
    assert program_units(("assert f(1) == 2", "assert len([]) == 0", "import math\nassert math.pi > 3")) == (0,)


def test_stop_iteration_from_the_program_is_an_error_not_the_end_of_a_test_loop(isolation):
    """``all(map(f, xs))`` over an empty iteration is True: a StopIteration that ended the judge's loop early
    would turn a raising program into a pass."""
    problem = Problem("j/stop", "", "pos", ("assert all(map(pos, [1, 2, 3]))", "assert not any(map(pos, [-1, -2]))"))
    for cheat in ("def pos(x):\n    raise StopIteration", "def pos(x):\n    return next(iter([]))",
                  "def pos(x):\n    raise StopAsyncIteration"):
        result, verdict = _check(isolation, problem, cheat, graded=True)
        assert not verdict.correct and verdict.score == 0.0, result
    assert _check(isolation, problem, "def pos(x):\n    return x > 0")[0].ok


def test_control_characters_never_reach_the_verdict_detail(isolation):
    problem = Problem("j/ctl", "", "f", ("assert f(1) == 2",))
    cheat = "def f(x):\n    raise ValueError('\\x1b[2J\\x1b[31mPASSED\\r\\nall tests passed\\x07')"
    _, verdict = _check(isolation, problem, cheat)
    assert not verdict.correct and all(ch.isprintable() for ch in verdict.detail), repr(verdict.detail)
    assert "\x1b" not in verdict.detail and "\n" not in verdict.detail
