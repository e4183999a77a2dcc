"""HumanEval in the sandbox: every canonical solution passes, and wrong ones fail with the reason."""

from __future__ import annotations

import pytest

from boostlora_plugins.code.checker import Checker, to_verdict
from boostlora_plugins.code.data import load_humaneval_package


@pytest.fixture(scope="module")
def problems():
    return load_humaneval_package()


@pytest.fixture(scope="module")
def checker(isolation):
    return Checker(isolation=isolation)


def test_all_164_canonical_solutions_pass(problems, checker):
    assert len(problems) == 164
    bodies = [p.reference[len(p.prefix):] for p in problems]
    results = checker.check_many(problems, bodies)
    failed = [(p.task_id, r.status, r.detail) for p, r in zip(problems, results) if not r.ok]
    assert failed == []
    assert all(r.passed == r.total > 0 for r in results)


def test_canonical_solutions_as_chat_answers_pass(problems, checker):
    """The same solutions written the way a chat model answers: prose, a fence, the whole function."""
    sample = problems[::20]
    answers = [f"Sure! Here is the solution.\n\n```python\n{p.reference}```\n\nIt works because..." for p in sample]
    assert all(r.ok for r in checker.check_many(sample, answers))


def test_wrong_solution_fails_with_the_failing_test(problems, checker):
    problem = problems[0]  # has_close_elements
    result = checker.check(problem, "    return False\n")
    verdict = to_verdict(result)
    assert not verdict.correct
    assert result.status == "failed" and "AssertionError" in result.detail
    assert verdict.detail.startswith("failed: test ")


def test_graded_reward_counts_passed_tests(problems, isolation):
    problem = problems[0]
    checker = Checker(isolation=isolation, stop_on_failure=False)
    result = checker.check(problem, "    return False\n")
    verdict = to_verdict(result, graded=True)
    assert not verdict.correct
    assert 0 < result.passed < result.total
    assert verdict.reward == pytest.approx(result.passed / result.total)
    assert to_verdict(checker.check(problem, problem.reference[len(problem.prefix):]), graded=True).reward == 1.0


def test_a_program_that_always_raises_earns_nothing_on_any_problem(problems, isolation):
    """36 HumanEval problems carry ``assert True`` units; before, a program that always raises scored up to 0.286
    on them. Now only units that call the program count."""
    with_free_units = [p for p in problems if any(u.startswith("assert True") for u in p.units)]
    assert len(with_free_units) == 36
    checker = Checker(isolation=isolation, stop_on_failure=False)
    raising = checker.check_many(with_free_units, ["    raise RuntimeError('no')\n"] * len(with_free_units))
    assert max(r.passed / r.total for r in raising) > 0.25  # what the old score counted
    assert all(to_verdict(r, graded=True).score == 0.0 for r in raising)
    nones = checker.check_many(with_free_units, ["    return None\n"] * len(with_free_units))
    assert sum(r.passed > 0 for r in nones) > sum(to_verdict(r, graded=True).score > 0 for r in nones)
    assert all(to_verdict(r, graded=True).score == r.scored / r.scored_total for r in nones)
