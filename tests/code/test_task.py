"""CodeTask: the opt-in, options, registration, prompts, references and a parallel evaluation."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from boostlora import ConfigError, GenerativeTask, Options, ReferenceTask
from boostlora.cli import main
from boostlora.contract.plugins import find_task
from boostlora_plugins.code.consent import ENV_VAR, OPTION
from boostlora_plugins.code.options import CodeOptions
from boostlora_plugins.code.task import CodeTask


@pytest.fixture
def allowed(monkeypatch, isolation):
    """Consent to run code, and the sandbox to run it in: the strongest this machine has (``auto`` is bubblewrap
    only, and refuses to start where bubblewrap does not work)."""
    monkeypatch.setenv(ENV_VAR, "1")
    return {"sandbox_isolation": "auto" if isolation.name == "bwrap" else isolation.name}


def test_registered_through_the_plugin():
    assert find_task("code") is CodeTask
    assert CodeTask.default_objective == "grpo" and {"default", "paper"} <= set(CodeTask.presets)


@pytest.mark.parametrize("env,option", [(None, True), ("1", False), ("0", True)])
def test_execution_needs_both_opt_ins(monkeypatch, env, option):
    if env is None:
        monkeypatch.delenv(ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(ENV_VAR, env)
    with pytest.raises(ConfigError, match="executes model-written programs"):
        CodeTask({"allow_code_execution": option})


def test_options_are_checked(allowed):
    with pytest.raises(ConfigError, match="no option"):
        CodeTask({"allow_code_execution": True, "datset": "humaneval"})
    with pytest.raises(ConfigError, match="unknown sandbox limit"):
        CodeTask({"allow_code_execution": True, "sandbox_limits": {"wall": 3}})
    with pytest.raises(ConfigError, match="pass_k"):
        CodeTask({"allow_code_execution": True, "pass_k": [20], "pass_k_samples": 10})
    with pytest.raises(ConfigError, match="unknown sandbox isolation"):
        CodeTask({"allow_code_execution": True, "sandbox_isolation": "docker"})


def test_options_are_typed_and_listed_with_help(capsys):
    assert CodeTask.Options is CodeOptions and issubclass(CodeOptions, Options)
    fields = dataclasses.fields(CodeOptions)
    assert OPTION in {f.name for f in fields}  # the consent check reads the option by this name
    assert all(f.metadata.get("help") for f in fields), [f.name for f in fields if not f.metadata.get("help")]
    assert main(["plugins", "--verbose"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  task code "))
    section = [line.strip() for line in lines[start + 1:] if line.startswith("    task_options.")][: len(fields)]
    for (name, default, help_text), line in zip(CodeOptions.describe(), section):
        assert line.startswith(f"task_options.{name} ") and repr(default) in line and line.endswith(help_text), line
    assert len(section) == len(fields)


def test_option_types_are_checked_by_name(allowed):
    with pytest.raises(ConfigError, match="task_options.max_train must be an integer, got '5'"):
        CodeTask({OPTION: True, "max_train": "5"})
    with pytest.raises(ConfigError, match="task_options.graded_reward must be true or false"):
        CodeTask({OPTION: True, "graded_reward": "yes"})
    for truthy in ("true", 1):  # only a real true gives consent, typed or not
        with pytest.raises(ConfigError, match=OPTION):
            CodeTask({OPTION: truthy})
    assert CodeTask({OPTION: True, "pass_k": None, **allowed}).options["pass_k"] is None  # null still means no pass@k


def test_capabilities_prompts_and_references(allowed):
    task = CodeTask({"allow_code_execution": True, "max_train": 5, "max_eval": 3, **allowed})
    assert isinstance(task, GenerativeTask) and isinstance(task, ReferenceTask)
    splits = task.load_splits(seed=0)
    assert len(splits.train) == 5 and len(splits.eval) == 3
    assert [p.task_id for p in task.load_splits(seed=1).eval] == [p.task_id for p in splits.eval]
    problem = splits.train[0]
    (message,) = task.prompt(problem)
    assert message["role"] == "user" and problem.prompt.strip() in message["content"]
    assert task.oracle(problem, task.reference(problem)).correct
    assert task.reward(problem, "    return None\n") == 0.0
    base = CodeTask({"allow_code_execution": True, "chat": False, **allowed})
    assert base.prompt(problem) == problem.prompt and base.oracle(problem, base.reference(problem)).correct


def test_evaluate_checks_in_parallel_and_reports_limits(allowed, monkeypatch):
    task = CodeTask({"allow_code_execution": True, "max_train": 4, "max_eval": 2, "graded_reward": True, **allowed,
                     "sandbox_limits": {"wall_seconds": 2, "cpu_seconds": 1}})
    problems = task.load_splits(seed=0).train
    answers = [task.reference(problems[0]), "nonsense", "```python\nwhile True:\n    pass\n```", task.reference(problems[3])]
    monkeypatch.setattr(task, "predict", lambda model, examples: answers[: len(examples)])
    evaluation = task.evaluate(torch.nn.Linear(1, 1), problems)
    assert [v.correct for v in evaluation.verdicts] == [True, False, False, True]
    assert evaluation.metrics["pass@1_greedy"] == 0.5
    assert evaluation.metrics.get("limit/cpu_time", 0) + evaluation.metrics.get("limit/wall_time", 0) == 1
    assert task.rewards(problems[:2], answers[:2]) == [1.0, 0.0]


@pytest.mark.parametrize("preset", sorted(CodeTask.presets))
def test_presets_are_valid_settings(preset):
    from boostlora.foundation.config import build_config, merge_settings
    from boostlora.contract.plugins import find_objective

    settings = CodeTask.presets[preset]
    config = build_config(merge_settings({"plugin": "code"}, settings, preset))
    find_objective(config.objective or CodeTask.default_objective)(config.objective_options)
    assert set(config.task_options) <= set(CodeTask.default_options)
