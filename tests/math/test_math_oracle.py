"""The oracle on hand-written completions, tricky ones included: it is the reward, so it must be exact."""

from __future__ import annotations

import threading
from fractions import Fraction

import pytest

from boostlora_plugins.math import oracle
from boostlora_plugins.math.data import MathExample
from boostlora_plugins.math.task import MathTask


@pytest.mark.parametrize(
    "text, value",
    [
        ("-12", Fraction(-12)),
        ("1,000", Fraction(1000)),
        ("$1,234.50", Fraction(246900, 200)),
        ("7.", Fraction(7)),
        ("0.5", Fraction(1, 2)),
        ("\\frac{1}{2}", Fraction(1, 2)),
        ("-\\frac{3}{4}", Fraction(-3, 4)),
        ("\\dfrac{6}{4}", Fraction(3, 2)),
        ("1/3", Fraction(1, 3)),
        ("abc", None),
        ("1/0", None),
        ("", None),
    ],
)
def test_to_number(text, value):
    assert oracle.to_number(text) == value


@pytest.mark.parametrize(
    "reference, completion, strict, flexible",
    [
        ("-4", "5 - 9 = -4", False, True),
        ("-4", "#### -4", True, True),
        ("1000", "The total is 1,000 dollars.\n#### 1,000", True, True),
        ("72", "She sold 48 + 24 = 72 clips.\n#### 72", True, True),
        ("18", "Janet makes $18.", False, True),
        ("18", "#### 18.00", True, True),
        ("0.5", "so the answer is \\frac{1}{2}", False, True),
        ("0.5", "so the answer is -\\frac{1}{2}", False, False),
        ("5", "I do not know.", False, False),
        ("5", "", False, False),
        ("12", "#### 12\nbut then 13", True, False),  # flexible takes the LAST number
        ("3", "#### three", False, False),
        ("100", "1000", False, False),
    ],
)
def test_strict_and_flexible_extractors(reference, completion, strict, flexible):
    assert oracle.check_numeric(reference, completion, "strict")[0] is strict
    assert oracle.check_numeric(reference, completion, "flexible")[0] is flexible


def test_math_verify_boxed_answers():
    assert oracle.check_latex("\\frac{1}{2}", "Thus the answer is $\\boxed{0.5}$.")
    assert oracle.check_latex("\\frac{1}{2}", "\\boxed{\\frac{2}{4}}")
    assert not oracle.check_latex("\\frac{1}{2}", "\\boxed{\\frac{1}{3}}")
    assert not oracle.check_latex("2", "no boxed answer and no number")
    assert oracle.extract_boxed("a \\boxed{\\frac{1}{2}} b") == "\\frac{1}{2}"
    assert oracle.extract_boxed("\\boxed{unclosed") is None


def test_math_verify_works_off_the_main_thread():
    """math-verify's own timeouts use SIGALRM (main thread only); the oracle must still answer in a thread."""
    results: list[bool] = []
    worker = threading.Thread(
        target=lambda: results.extend(
            [oracle.check_latex("\\frac{1}{2}", "\\boxed{0.5}"), oracle.check_latex("3", "\\boxed{4}")]
        )
    )
    worker.start()
    worker.join(timeout=60)
    assert results == [True, False]


def test_task_oracle_verdicts_and_metrics():
    task = MathTask({"extractor": "strict"})
    ex = MathExample("What is 2 + 2?", "4")
    assert task.oracle(ex, "#### 4").correct
    assert not task.oracle(ex, "The answer is 4").correct  # strict needs the marker
    assert task.oracle(ex, "no number here").detail == "no answer found by the strict extractor (expected '4')"
    assert not task.oracle(ex, None).correct  # a bad prediction is a wrong answer, never a crash
    assert task.reward(ex, "#### 4") == 1.0 and task.reward(ex, "4") == 0.0
    preds = ["#### 4", "The answer is 4", "nothing"]
    verdicts = [task.oracle(ex, p) for p in preds]
    metrics = task.metrics([ex] * 3, preds, verdicts)
    assert metrics["strict_accuracy"] == pytest.approx(1 / 3)
    assert metrics["flexible_accuracy"] == pytest.approx(2 / 3)
    assert metrics["no_number_rate"] == pytest.approx(1 / 3)
    latex = MathExample("q", "\\frac{1}{2}", kind="latex")
    assert task.oracle(latex, "\\boxed{0.5}").correct
