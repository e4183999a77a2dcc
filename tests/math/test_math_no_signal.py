"""A GRPO round with no learning signal says so: one warning line with the likely causes, and a flag in the report."""

from __future__ import annotations

import json
import sys

import pytest

from boostlora import Verdict, hookimpl
from boostlora.contract.plugins import register_plugin, unregister_plugin
from boostlora.foundation.config import build_config
from boostlora.runs.lifecycle import boost
from boostlora.runs.report import format_table

import math_helpers

pytest.importorskip("trl")


class NeverRight(math_helpers.CountA):
    """A binary reward that is 0 for every completion: every GRPO group has zero variance, so no gradient."""

    name = "never_right"
    predict_tokens = 4

    def oracle(self, example, prediction) -> Verdict:
        return Verdict(False)


class Graded(math_helpers.CountA):
    name = "graded"
    predict_tokens = 4


@hookimpl
def boostlora_register_tasks(register) -> None:
    register(NeverRight)
    register(Graded)


@pytest.fixture
def plugin():
    register_plugin(sys.modules[__name__], name="no_signal_plugin")
    yield
    unregister_plugin("no_signal_plugin")


def run(task: str, out):
    return boost(build_config({
        "plugin": "no_signal_plugin", "task": task, "model": "tiny", "r": 2, "u": 4, "weight_tying": 0.0,
        "max_rounds": 1, "show_progress": False,
        "objective_options": {"lr": 0.1, "steps": 2, "prompts_per_step": 2, "num_generations": 4,
                              "max_completion_length": 4, "warmup_steps": 0, "temperature": 1.0},
    }), out)


def test_a_reward_that_is_always_zero_warns_and_is_marked(plugin, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    report = run("never_right", tmp_path / "run")
    record = report["rounds"][0]
    assert record["no_signal"] is True and record["train_metrics"]["frac_reward_zero_std"] == 1.0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning: round 0 had no learning signal")]
    assert len(warnings) == 1 and "graded reward" in warnings[0] and "objective=sft" in warnings[0]
    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    assert "no learning signal" in format_table(saved).splitlines()[2]


def test_a_graded_reward_does_not_warn(plugin, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    report = run("graded", tmp_path / "run")
    assert report["rounds"][0]["no_signal"] is False
    assert report["rounds"][0]["train_metrics"]["frac_reward_zero_std"] < 1.0
    assert "no learning signal" not in capsys.readouterr().err


class RewardNone(math_helpers.CountA):
    """An author's mistake: reward() forgets to return."""

    name = "reward_none"
    predict_tokens = 4

    def reward(self, example, completion):
        self.oracle(example, completion)


class NoTokenizerYet(math_helpers.CountA):
    """An author's mistake: the tokenizer exists only once load_model ran (no class attribute)."""

    name = "no_tokenizer_yet"
    predict_tokens = 4

    def __getattribute__(self, name):
        if name == "tokenizer" and "tokenizer" not in object.__getattribute__(self, "__dict__"):
            raise AttributeError(name)
        return object.__getattribute__(self, name)


def test_a_reward_that_returns_none_is_one_line_naming_the_task(tmp_path, monkeypatch):
    from boostlora import ConfigError

    monkeypatch.chdir(tmp_path)
    register_plugin(type("Mistakes", (), {"boostlora_register_tasks": staticmethod(hookimpl(lambda register: register(RewardNone)))})(),
                    name="mistakes_plugin")
    try:
        with pytest.raises(ConfigError, match=r"task 'reward_none': reward\(\) returned None \(NoneType\); it must return a finite number"):
            boost(build_config({"plugin": "mistakes_plugin", "task": "reward_none", "model": "tiny", "r": 2, "u": 4,
                                "weight_tying": 0.0, "max_rounds": 1, "show_progress": False,
                                "objective_options": {"steps": 1, "prompts_per_step": 2, "num_generations": 2,
                                                      "max_completion_length": 4, "warmup_steps": 0}}), tmp_path / "run")
    finally:
        unregister_plugin("mistakes_plugin")


def test_a_tokenizer_set_only_in_load_model_is_named_before_the_model_loads():
    from boostlora import ConfigError
    from boostlora.objectives.grpo import GRPO

    with pytest.raises(ConfigError, match=r"task 'no_tokenizer_yet' does not: it has no tokenizer \(declare tokenizer = None "
                                          r"on the class and set it in load_model"):
        GRPO({}).check(NoTokenizerYet({}))
