"""Where a GRPO round's time goes: report.json's phases sum to the round's wall time, on a tiny Llama."""

from __future__ import annotations

import sys

import pytest

from boostlora import hookimpl
from boostlora.foundation.config import build_config
from boostlora.runs.lifecycle import boost
from boostlora.objectives.grpo_timing import PARTS
from boostlora.contract.plugins import register_plugin, unregister_plugin

import math_helpers

pytest.importorskip("trl")

class CountA(math_helpers.CountA):
    name = "count_a_timed"
    predict_tokens = 4

@hookimpl
def boostlora_register_tasks(register) -> None:
    register(CountA)


@pytest.fixture
def plugin():
    register_plugin(sys.modules[__name__], name="count_a_timed_plugin")
    yield
    unregister_plugin("count_a_timed_plugin")


def test_grpo_round_time_splits_into_parts_that_sum_to_the_round(plugin, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = build_config({
        "plugin": "count_a_timed_plugin", "task": "count_a_timed", "model": "tiny", "r": 2, "u": 4, "weight_tying": 0.0,
        "max_rounds": 1, "show_progress": False, "step_sizes": [0.0, 1.0], "line_search_size": 4,
        "objective_options": {"lr": 0.1, "steps": 2, "prompts_per_step": 2, "num_generations": 2,
                              "max_completion_length": 4, "warmup_steps": 0, "beta": 0.05},
    })
    record = boost(config, tmp_path / "run")["rounds"][0]
    phases, train_parts = record["seconds_by_phase"], record["seconds_train_by_phase"]
    assert list(phases) == ["eval_train", "attach", "train", "line_search", "merge", "eval_validation", "eval_heldout",
                            "record"]
    assert list(train_parts) == list(PARTS)
    assert all(v >= 0 for v in [*phases.values(), *train_parts.values()])
    assert sum(phases.values()) == pytest.approx(record["seconds"], rel=0.05)
    assert sum(train_parts.values()) == pytest.approx(phases["train"], rel=0.05)
    # every part of a step ran and was timed: sampling, the reward, the KL reference's pass (beta > 0), backward
    for part in ("setup", "trainer_start", "generation", "reward", "scoring_logprobs", "loss_backward", "optimizer"):
        assert train_parts[part] > 0, part
    assert phases["line_search"] > 0 and phases["eval_heldout"] > 0


def test_without_a_kl_reference_no_scoring_pass_is_timed(plugin, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = build_config({
        "plugin": "count_a_timed_plugin", "task": "count_a_timed", "model": "tiny", "r": 2, "u": 4, "weight_tying": 0.0,
        "max_rounds": 1, "show_progress": False,
        "objective_options": {"lr": 0.1, "steps": 1, "prompts_per_step": 2, "num_generations": 2,
                              "max_completion_length": 4, "warmup_steps": 0, "beta": 0.0},
    })
    record = boost(config)["rounds"][0]
    assert record["seconds_train_by_phase"]["scoring_logprobs"] == 0.0  # TRL skips the reference when beta is 0
    assert record["seconds_by_phase"]["line_search"] < 0.05  # no step_sizes: no line search
