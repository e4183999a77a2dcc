"""The boosting loop end to end on the toy plugin (tests/toy_plugin.py), registered through the public API."""

from __future__ import annotations

import json

import pytest
import torch

from boostlora import BoostLoraError, hookimpl
from boostlora.foundation.config import build_config
from boostlora.runs.lifecycle import boost, resume
from boostlora.contract.plugins import register_plugin, unregister_plugin

FAST = {
    "plugin": "toy",
    "task": "toy",
    "u": 4,
    "weight_tying": 0.0,
    "targets": ["out"],
    "max_rounds": 4,
    "show_progress": False,
    "objective_options": {"lr": 0.1, "steps": 60, "batch_size": 64},
    "task_options": {"strength": 1.0},
}


def settings(**changes):
    return build_config({**FAST, **changes})


@pytest.fixture(scope="module")
def rotate_report(toy_plugin, device):
    return boost(settings(strategy="rotate", device=device))


@pytest.fixture(scope="module")
def top_report(toy_plugin, device):
    return boost(settings(strategy="top", device=device))


def test_rotate_accuracy_rises_over_rounds_where_one_round_cannot(rotate_report):
    base = rotate_report["base_eval_accuracy"]
    accuracy = [rec["eval_accuracy"] for rec in rotate_report["rounds"]]
    assert len(accuracy) == 4
    assert accuracy[-1] >= base + 0.12, (base, accuracy)
    assert accuracy[-1] >= accuracy[0] + 0.10, accuracy  # the first round alone does not get there
    assert [rec["effective_rank"]["out"] for rec in rotate_report["rounds"]] == [2, 4, 6, 8]


def test_top_plateaus_below_rotate_with_rank_at_most_r(rotate_report, top_report):
    assert top_report["rounds"][-1]["eval_accuracy"] <= rotate_report["rounds"][-1]["eval_accuracy"] - 0.08
    assert all(rec["effective_rank"]["out"] <= 2 for rec in top_report["rounds"])


def test_report_fields(rotate_report):
    for key in ("plugin", "task", "model", "strategy", "r", "u", "base_eval_accuracy", "rounds"):
        assert key in rotate_report
    first, second = rotate_report["rounds"][:2]
    assert first["trainable_params"] == 4 and first["cumulative_params"] == 4 and second["cumulative_params"] == 8
    assert first["n_train"] == 512
    assert first["n_failures"] == round((1 - first["train_accuracy"]) * 512)
    assert first["merge_gap"] < 1e-5
    for key in ("round", "n_failures", "train_accuracy", "eval_accuracy", "effective_rank", "seconds"):
        assert key in first


class StopAfter:
    """A lifecycle plugin: kill the run (as Ctrl-C would) right after round ``after`` is checkpointed."""

    def __init__(self, after: int) -> None:
        self.after = after

    @hookimpl
    def boostlora_round_end(self, run, record):
        if record.round == self.after:
            raise KeyboardInterrupt


def test_resume_after_a_kill_reproduces_the_uninterrupted_run(toy_plugin, tmp_path, device):
    whole = tmp_path / "whole"
    boost(settings(device=device), whole)
    broken = tmp_path / "broken"
    register_plugin(StopAfter(1), name="killer")
    try:
        with pytest.raises(BoostLoraError, match="interrupted after 2 merged round"):
            boost(settings(device=device), broken)
    finally:
        unregister_plugin("killer")
    assert len(json.loads((broken / "report.json").read_text())["rounds"]) == 2
    assert not (broken / "final").exists()
    resumed = resume(broken)
    assert len(resumed["rounds"]) == 4
    expected = json.loads((whole / "report.json").read_text())
    assert [r["eval_accuracy"] for r in resumed["rounds"]] == [r["eval_accuracy"] for r in expected["rounds"]]
    from safetensors.torch import load_file

    a = load_file(str(whole / "final" / "model.safetensors"))
    b = load_file(str(broken / "final" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_a_run_directory_is_never_reused_by_accident(toy_plugin, tmp_path):
    boost(settings(max_rounds=1), tmp_path)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(BoostLoraError, match="already holds a run"):
        boost(settings(max_rounds=1), tmp_path)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_patience_stops_a_run_that_stopped_improving(toy_plugin):
    report = boost(settings(patience=1, objective_options={"lr": 1e-9, "steps": 2, "batch_size": 8}))
    assert len(report["rounds"]) == 1
    assert "not improved for 1 round" in report["stop_reason"]


def test_a_zero_step_size_never_merges_a_harmful_round(toy_plugin):
    report = boost(settings(step_sizes=[0.0], max_rounds=2))
    assert [rec["step_size"] for rec in report["rounds"]] == [0.0, 0.0]
    assert [rec["eval_accuracy"] for rec in report["rounds"]] == [report["base_eval_accuracy"]] * 2
    assert all(rank == 0 for rec in report["rounds"] for rank in rec["effective_rank"].values())
    assert [rec["cumulative_params"] for rec in report["rounds"]] == [0, 0]  # counts merged rounds only


def test_round_0_is_the_same_whatever_max_rounds_is(toy_plugin, tmp_path):
    """The one-time SVD hands round 0 the same block however many rounds the run may take, so a longer run
    extends a shorter one instead of starting somewhere else."""
    from boostlora.runs.svd_cache import read

    reports = {n: boost(settings(targets=["hidden"], max_rounds=n), tmp_path / str(n)) for n in (2, 8)}
    timing = {"seconds", "seconds_train", "seconds_eval_train", "seconds_merge", "seconds_by_phase", "seconds_train_by_phase",
              "peak_rss_mb_by_phase", "peak_rss_mb_train_by_phase"}
    first = [{k: v for k, v in reports[n]["rounds"][0].items() if k not in timing} for n in (2, 8)]
    assert first[0] == first[1]
    short, long = (read(tmp_path / str(n) / "svd.safetensors")[0]["hidden"] for n in (2, 8))
    assert short.U.shape[1] == 4 and long.U.shape[1] == 16
    assert torch.equal(short.U, long.U[:, :4]) and torch.equal(short.V, long.V[:, :4]) and torch.equal(short.S, long.S[:4])


def test_replay_adds_correct_examples_to_the_round(toy_plugin):
    report = boost(settings(replay_fraction=0.5, max_rounds=1))
    record = report["rounds"][0]
    assert record["n_trained_on"] == record["n_failures"] + round(0.5 * record["n_failures"])


def test_run_stops_when_nothing_is_left_to_fix(toy_plugin):
    report = boost(settings(task_options={"strength": 0.0, "teacher_rank": 2}))
    assert report["base_eval_accuracy"] == 1.0
    assert report["rounds"] == []
    assert report["stop_reason"] == "no failures left on the training split"


def test_single_shot_baseline_trains_on_the_whole_split(toy_plugin):
    report = boost(settings(train_on="all", max_rounds=1, strategy="top"))
    record = report["rounds"][0]
    assert record["n_trained_on"] == record["n_train"] == 512 > record["n_failures"]


def test_round_phases_sum_to_the_round_wall_time(toy_plugin, tmp_path):
    """report.json says where each round's time went: every phase, none negative, adding up to ``seconds``."""
    report = boost(settings(max_rounds=2, step_sizes=[0.0, 0.5, 1.0]), tmp_path / "run")
    for record in report["rounds"]:
        phases = record["seconds_by_phase"]
        assert list(phases) == ["eval_train", "attach", "train", "line_search", "merge", "eval_validation",
                                "eval_heldout", "record"]
        assert all(seconds >= 0 for seconds in phases.values())
        assert sum(phases.values()) == pytest.approx(record["seconds"], rel=0.05, abs=2e-3)
        assert phases["train"] == pytest.approx(record["seconds_train"], abs=1e-3)
        assert record["seconds_train_by_phase"] == {}  # cross_entropy does not split its training time
