"""Bad input gives a failing verdict with the reason recorded, never an exception."""

from __future__ import annotations

from boostlora_plugins.code.checker import Checker, to_verdict
from boostlora_plugins.code.data import Problem

PROBLEM = Problem("t/1", "def add(a, b):\n", "add", ("assert add(1, 2) == 3",))


def _verdict(isolation, problem, answer):
    return to_verdict(Checker(isolation=isolation).check(problem, answer))


def test_problem_without_tests(isolation):
    verdict = _verdict(isolation, Problem("t/0", "p", "add", ()), "def add(a, b):\n    return a + b\n")
    assert not verdict.correct and verdict.detail.startswith("no_tests:")


def test_answer_that_is_not_code(isolation):
    verdict = _verdict(isolation, PROBLEM, "I am sorry, I cannot help with that request.")
    assert not verdict.correct and verdict.detail.startswith("syntax_error:")


def test_empty_or_non_text_answer(isolation):
    for answer in ("", "   \n", None, 42):
        verdict = _verdict(isolation, PROBLEM, answer)
        assert not verdict.correct and verdict.detail.startswith("no_code:"), answer


def test_code_that_does_not_compile(isolation):
    verdict = _verdict(isolation, PROBLEM, "```python\ndef add(a, b)\n    return a +\n```")
    assert not verdict.correct and verdict.detail.startswith("syntax_error: SyntaxError")


def test_missing_entry_point_and_runtime_error(isolation):
    missing = _verdict(isolation, PROBLEM, "```python\ndef plus(a, b):\n    return a + b\n```")
    assert not missing.correct and "NameError" in missing.detail
    crash = _verdict(isolation, PROBLEM, "```python\ndef add(a, b):\n    return 1 / 0\n```")
    assert not crash.correct and crash.detail.startswith("failed: test 0") and "ZeroDivisionError" in crash.detail


def test_input_reads_end_of_file(isolation):
    verdict = _verdict(isolation, PROBLEM, "```python\ndef add(a, b):\n    return int(input())\n```")
    assert not verdict.correct and "EOFError" in verdict.detail


def test_correct_answer_passes(isolation):
    assert _verdict(isolation, PROBLEM, "```python\ndef add(a, b):\n    return a + b\n```").correct
