"""An honest resume for tasks that fit state in ``prepare``: what ``extra_state`` returns comes back on ``--resume``,
and a task that changes tensors in ``prepare`` without returning them is refused before anything is written."""

from __future__ import annotations

import json

import pytest
import torch

from boostlora import BoostLoraError, hookimpl
from boostlora.cli import main
from boostlora.foundation.config import build_config
from boostlora.runs.lifecycle import boost, resume
from boostlora.contract.plugins import register_plugin, unregister_plugin

from ..toy_plugin import CLASSES, ToyTask

SETTINGS = {"plugin": "fitted", "task": "fitted-head", "u": 4, "weight_tying": 0.0, "targets": ["hidden"],
            "max_rounds": 3, "show_progress": False, "objective_options": {"lr": 0.1, "steps": 20, "batch_size": 64}}


class FittedHead(ToyTask):
    """Fits the output layer by least squares on the frozen hidden features, the way a linear probe is fitted."""

    name = "fitted-head"

    def prepare(self, model, splits):
        x = torch.stack([ex[0] for ex in splits.train])
        h = torch.cat([model.hidden(x), torch.ones(len(x), 1)], dim=1)
        targets = torch.nn.functional.one_hot(torch.tensor([ex[1] for ex in splits.train]), CLASSES).float()
        solution = torch.linalg.lstsq(h, targets).solution  # (hidden + 1, classes)
        with torch.no_grad():
            model.out.weight.copy_(solution[:-1].T)
            model.out.bias.copy_(solution[-1])

    def extra_state(self, model):
        return {"out.weight": model.out.weight.detach(), "out.bias": model.out.bias.detach()}


class ForgetfulHead(FittedHead):
    """The same fit, but ``extra_state`` is left at its default: a resume would silently lose the head."""

    name = "forgetful-head"

    def extra_state(self, model):
        return {}


class HalfRemembered(FittedHead):
    name = "half-remembered"

    def extra_state(self, model):
        return {"out.bias": model.out.bias.detach()}


class StopAfter:
    def __init__(self, after: int) -> None:
        self.after = after

    @hookimpl
    def boostlora_round_end(self, run, record):
        if record.round == self.after:
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def fitted_plugin():
    class Plugin:
        @hookimpl
        def boostlora_register_tasks(self, register):
            for cls in (FittedHead, ForgetfulHead, HalfRemembered):
                register(cls)

    register_plugin(Plugin(), name="fitted")
    yield
    unregister_plugin("fitted")


def test_state_fitted_in_prepare_survives_a_resume(fitted_plugin, toy_plugin, tmp_path):
    whole = boost(build_config(SETTINGS), tmp_path / "whole")
    unfitted = boost(build_config({**SETTINGS, "plugin": "toy", "task": "toy", "max_rounds": 1}))
    assert whole["base_eval_accuracy"] >= unfitted["base_eval_accuracy"] + 0.2  # the fit matters
    assert whole["fitted_params"] == 16 * CLASSES + CLASSES

    broken = tmp_path / "broken"
    register_plugin(StopAfter(0), name="killer")
    try:
        with pytest.raises(BoostLoraError, match="interrupted after 1 merged round"):
            boost(build_config(SETTINGS), broken)
    finally:
        unregister_plugin("killer")
    resumed = resume(broken)
    assert [r["eval_accuracy"] for r in resumed["rounds"]] == [r["eval_accuracy"] for r in whole["rounds"]]
    assert [r["train_accuracy"] for r in resumed["rounds"]] == [r["train_accuracy"] for r in whole["rounds"]]


@pytest.mark.parametrize("task,changed", [("forgetful-head", "out.bias, out.weight"), ("half-remembered", "out.weight")])
def test_prepare_state_not_returned_by_extra_state_is_refused(fitted_plugin, tmp_path, capsys, task, changed):
    out = tmp_path / "run"
    code = main(["run", "--plugin", "fitted", "--task", task, "--out", str(out), "max_rounds=1", "show_progress=false"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert f"task '{task}': prepare() changed {changed}, but extra_state() does not return it" in err[0]
    assert "a resumed run would lose it" in err[0]
    assert not out.exists()
    assert json.dumps(err)  # one plain line
