"""``report_to``: round records and step metrics reach the trackers transformers supports; a tracker that is
unknown or not installed is refused in one line before anything loads."""

from __future__ import annotations

import pytest

from boostlora.cli import main
from boostlora.foundation.config import build_config
from boostlora.runs.lifecycle import boost

SETTINGS = {"plugin": "toy", "task": "toy", "u": 4, "weight_tying": 0.0, "targets": ["hidden", "out"], "max_rounds": 2,
            "show_progress": False, "objective_options": {"lr": 0.1, "steps": 5, "batch_size": 64}}


def scalars(event_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series of the TensorBoard event files under ``event_dir``, as (step, value) pairs."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (run,) = {path.parent for path in event_dir.rglob("events.out.tfevents.*")}
    events = EventAccumulator(str(run))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_tensorboard_receives_round_records_and_step_metrics(toy_plugin, tmp_path):
    pytest.importorskip("tensorboard")
    run_dir = tmp_path / "run"
    report = boost(build_config({**SETTINGS, "report_to": "tensorboard"}), run_dir)
    rounds = report["rounds"]
    assert len(rounds) == 2
    series = scalars(run_dir / "tracking")
    approx = pytest.approx

    def values(tag):
        return [(step, approx(value, abs=1e-6)) for step, value in series[tag]]

    # the base model at step 0, each round where its 5 steps ended
    assert values("eval/accuracy") == [(0, report["base_eval_accuracy"]), (5, rounds[0]["eval_accuracy"]),
                                       (10, rounds[1]["eval_accuracy"])]
    assert values("eval/validation_accuracy")[1:] == [(5, rounds[0]["validation_accuracy"]),
                                                      (10, rounds[1]["validation_accuracy"])]
    assert values("train/round_cumulative_params") == [(5, rounds[0]["cumulative_params"]),
                                                       (10, rounds[1]["cumulative_params"])]
    assert values("train/round_rank") == [(5, max(rounds[0]["effective_rank"].values())),
                                          (10, max(rounds[1]["effective_rank"].values()))]
    assert values("train/round_seconds") == [(5, rounds[0]["seconds"]), (10, rounds[1]["seconds"])]
    loss = series["train/loss"]
    assert [step for step, _ in loss] == list(range(1, 11))  # every optimizer step of both rounds
    assert loss[0][1] == approx(rounds[0]["train_metrics"]["loss_first"], rel=1e-6)
    assert loss[9][1] == approx(rounds[1]["train_metrics"]["loss_last"], rel=1e-6)
    assert [step for step, _ in series["train/learning_rate"]] == list(range(1, 11))


def test_no_tracker_by_default(toy_plugin, tmp_path):
    boost(build_config({**SETTINGS, "max_rounds": 1}), tmp_path / "run")
    assert not (tmp_path / "run" / "tracking").exists()


def refused(capsys, tmp_path, value: str) -> str:
    out = tmp_path / "run"
    code = main(["run", "--plugin", "toy", "--task", "toy", "--out", str(out), f"report_to={value}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("boostlora: error: report_to"), err
    assert not out.exists()  # refused before the run directory was claimed, so before any model loaded
    return err


def test_an_unknown_tracker_is_one_line_before_anything_loads(toy_plugin, tmp_path, capsys):
    err = refused(capsys, tmp_path, "tensorbored")
    assert "unknown tracker 'tensorbored'" in err and "tensorboard" in err
    assert "'none' and 'all' stand alone" in refused(capsys, tmp_path, "[none, tensorboard]")


def test_a_tracker_that_is_not_installed_is_one_line_before_anything_loads(toy_plugin, tmp_path, capsys):
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK, get_available_reporting_integrations

    missing = [name for name in ("wandb", "mlflow", "comet_ml", "neptune") if name not in get_available_reporting_integrations()]
    if not missing:
        pytest.skip("every tracker tried is installed here")
    assert missing[0] in INTEGRATION_TO_CALLBACK
    assert f"tracker '{missing[0]}' is not installed: pip install " in refused(capsys, tmp_path, missing[0])


def test_none_and_all_mean_what_they_mean_in_transformers():
    from transformers.integrations.integration_utils import get_available_reporting_integrations

    from boostlora.runs.tracking import tracker_names

    assert tracker_names([]) == [] and tracker_names(["none"]) == []
    installed = get_available_reporting_integrations()
    if installed:
        assert tracker_names(["all"]) == installed
    assert build_config({"plugin": "toy", "report_to": "tensorboard"}).report_to == ["tensorboard"]  # one name: a list
