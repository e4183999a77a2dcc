"""The code task's pass@k as an ``evaluate`` module: loaded by path with the network off, each answer run by the
plugin's sandboxed checker, and giving the task's own numbers on three tiny problems. (Outside tests/code on
purpose: it runs six small programs and nothing else.)"""

from __future__ import annotations

import pytest

evaluate = pytest.importorskip("evaluate")

from boostlora import ConfigError  # noqa: E402
from boostlora_plugins.code import metric_path, problem_to_json  # noqa: E402
from boostlora_plugins.code.data import Problem  # noqa: E402
from boostlora_plugins.code.metrics import mean_pass_at_k  # noqa: E402

PROBLEMS = [
    Problem("add", "add two numbers", "add", ("assert add(1, 2) == 3", "assert add(-1, 1) == 0")),
    Problem("double", "double a number", "double", ("assert double(4) == 8",)),
    Problem("neg", "negate a number", "neg", ("assert neg(3) == -3",)),
]
ANSWERS = [
    ["def add(a, b):\n    return a + b\n", "def add(a, b):\n    return a - b\n"],  # 1 of 2 passes
    ["def double(x):\n    return x * 2\n", "def double(x):\n    return x + x\n"],  # 2 of 2
    ["def neg(x):\n    return x\n", "def neg(x):\n    return abs(x)\n"],  # 0 of 2
]


@pytest.fixture
def isolation() -> str:
    from boostlora_plugins.code.isolation import select

    for level in ("auto", "unshare"):
        try:
            select(level)
            return level
        except ConfigError:
            continue
    pytest.skip("no sandbox on this machine")


@pytest.fixture
def metric(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
    monkeypatch.setenv("BOOSTLORA_ALLOW_CODE_EXEC", "1")
    return evaluate.load(metric_path())


def test_pass_at_k_module_gives_the_tasks_numbers(metric, isolation):
    from boostlora_plugins.code.task import CodeTask

    references = [problem_to_json(p) for p in PROBLEMS]
    got = metric.compute(predictions=ANSWERS, references=references, k=[1, 2], allow_code_execution=True,
                         isolation=isolation, workers=1)
    assert got == {"pass@1": pytest.approx(0.5), "pass@2": pytest.approx(2 / 3)}  # (1/2 + 1 + 0) / 3; (1 + 1 + 0) / 3

    task = CodeTask({"allow_code_execution": True, "sandbox_isolation": isolation, "sandbox_workers": 1})
    counts = [(len(answers), sum(task.oracle(p, a).correct for a in answers)) for p, answers in zip(PROBLEMS, ANSWERS)]
    assert counts == [(2, 1), (2, 2), (2, 0)]
    assert got["pass@2"] == pytest.approx(mean_pass_at_k(counts, 2))  # the task's sampled pass@k
    greedy = [answers[0] for answers in ANSWERS]
    verdicts = [task.oracle(p, a) for p, a in zip(PROBLEMS, greedy)]
    one = metric.compute(predictions=[[a] for a in greedy], references=references, allow_code_execution=True,
                         isolation=isolation, workers=1)
    assert one["pass@1"] == pytest.approx(task.metrics(PROBLEMS, greedy, verdicts)["pass@1_greedy"])  # 2/3


def test_pass_at_k_module_needs_both_switches(metric, monkeypatch):
    references = [problem_to_json(PROBLEMS[0])]
    with pytest.raises(ConfigError, match="allow_code_execution=true"):
        metric.compute(predictions=[ANSWERS[0]], references=references)
    monkeypatch.delenv("BOOSTLORA_ALLOW_CODE_EXEC")
    with pytest.raises(ConfigError, match="BOOSTLORA_ALLOW_CODE_EXEC=1"):
        metric.compute(predictions=[ANSWERS[0]], references=references, allow_code_execution=True)
