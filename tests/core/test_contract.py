"""Checks at the plugin boundary: a plugin that returns the wrong kind of value gets one line naming the method
and what it returned, exit status 2, and no run directory."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from boostlora import ConfigError, Evaluation, Verdict, hookimpl
from boostlora.contract import plugins as plugin_manager
from boostlora.cli import main
from boostlora.contract.plugins import register_plugin, unregister_plugin

from ..toy_plugin import ToyTask

FAST = ["u=4", "weight_tying=0.0", "targets=[out]", "show_progress=false", "objective_options.steps=5", "max_rounds=1"]


class BoolOracle(ToyTask):
    name = "bool-oracle"

    def oracle(self, example, prediction):
        return prediction == example[1]


class TensorPredict(ToyTask):
    name = "tensor-predict"

    def predict(self, model, examples):
        return list(model(torch.stack([ex[0] for ex in examples])).argmax(-1))


class ShortPredict(ToyTask):
    name = "short-predict"

    def predict(self, model, examples):
        return super().predict(model, examples)[:-1]


class NumpyMetrics(ToyTask):
    name = "numpy-metrics"

    def metrics(self, examples, predictions, verdicts):
        return {"mean_label": np.float32(0.5)}


class VectorLoss(ToyTask):
    name = "vector-loss"

    def loss(self, model, examples):
        return super().loss(model, examples).reshape(1).repeat(2)


class FloatLoss(ToyTask):
    name = "float-loss"

    def loss(self, model, examples):
        return super().loss(model, examples).item()


class DictEvaluate(ToyTask):
    name = "dict-evaluate"

    def evaluate(self, model, examples):
        return {"accuracy": 0.5}


class WrongExtraState(ToyTask):
    name = "wrong-extra-state"

    def extra_state(self, model):
        return {"head.weight": model.out.weight.detach()}


class IntPrompt(ToyTask):
    """Generative in shape (tokenizer, prompt, reward), trained by grpo; its prompt is not text."""

    name = "int-prompt"
    default_objective = "grpo"
    tokenizer = None

    def prompt(self, example):
        return example[1]

    def reward(self, example, completion):
        return 0.0


class NoneReference(IntPrompt):
    name = "none-reference"
    default_objective = "sft"

    def prompt(self, example):
        return "Which class?"

    def reference(self, example):
        return None


TASKS = (BoolOracle, TensorPredict, ShortPredict, NumpyMetrics, VectorLoss, FloatLoss, DictEvaluate, WrongExtraState,
         IntPrompt, NoneReference)


@pytest.fixture(scope="module")
def bad_plugin():
    @hookimpl
    def boostlora_register_tasks(register):
        for cls in TASKS:
            register(cls)

    module = types.SimpleNamespace(boostlora_register_tasks=boostlora_register_tasks)
    register_plugin(module, name="bad")
    yield module
    unregister_plugin("bad")


@pytest.mark.parametrize(
    "task,needles",
    [
        ("bool-oracle", ["task 'bool-oracle': oracle() returned False (bool)", "boostlora.Verdict"]),
        ("tensor-predict", ["predict() returned tensor(", "(Tensor) for example 0", "JSON"]),
        ("short-predict", ["predict() returned 255 answers for 256 examples"]),
        ("numpy-metrics", ["metrics() returned 'mean_label'", "(float32)", "float(x)"]),
        ("vector-loss", ["loss() returned", "of shape (2,)", "scalar floating-point tensor"]),
        ("float-loss", ["loss() returned", "(float)", "scalar floating-point tensor"]),
        ("dict-evaluate", ["evaluate() returned {'accuracy': 0.5} (dict)", "boostlora.Evaluation"]),
        ("wrong-extra-state", ["extra_state() returned 'head.weight'", "state_dict()"]),
        ("int-prompt", ["task 'int-prompt': prompt() returned", "(int)", "a string or a list of chat messages"]),
        ("none-reference", ["task 'none-reference': reference() returned None (NoneType)", "must return a string"]),
    ],
)
def test_a_wrong_return_value_is_one_line_exit_2_and_nothing_written(bad_plugin, tmp_path, capsys, task, needles):
    out = tmp_path / "run"
    code = main(["run", "--plugin", "bad", "--task", task, "--out", str(out), *FAST])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("boostlora: error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out.exists()


def test_a_misspelled_hook_names_itself():
    @hookimpl
    def boostlora_regster_tasks(register):
        pass

    module = types.SimpleNamespace(boostlora_regster_tasks=boostlora_regster_tasks)
    with pytest.raises(ConfigError, match=r"plugin 'typo' implements unknown hook 'boostlora_regster_tasks': "
                                          r"did you mean 'boostlora_register_tasks'\?"):
        register_plugin(module, name="typo")
    assert plugin_manager.pm.get_plugin("typo") is None  # refused, not half-registered


def test_a_misspelled_hook_in_an_installed_plugin_names_itself(monkeypatch):
    @hookimpl
    def boostlora_round_ends(run, record):
        pass

    class EntryPoint:
        name, value, dist = "sentiment", "sentiment.plugin", None

        def load(self):
            return types.SimpleNamespace(boostlora_round_ends=boostlora_round_ends)

    monkeypatch.setattr(plugin_manager, "entry_points", lambda group: [EntryPoint()])
    with pytest.raises(ConfigError, match="plugin 'sentiment' implements unknown hook 'boostlora_round_ends': did you mean "
                                          r"'boostlora_round_end'\? \(set BOOSTLORA_DISABLE_PLUGIN_AUTOLOAD=1 to run "
                                          "without third-party plugins\)"):
        plugin_manager._new_manager()


class StopWith:
    def __init__(self, answer) -> None:
        self.answer = answer

    @hookimpl
    def boostlora_round_end(self, run, record):
        return self.answer


def test_a_hook_that_returns_true_stops_with_a_readable_reason(toy_plugin, tmp_path, capsys):
    register_plugin(StopWith(True), name="stopper")
    try:
        code = main(["run", "--plugin", "toy", "--task", "toy", "--out", str(tmp_path / "run"), *FAST[:-1], "max_rounds=3"])
    finally:
        unregister_plugin("stopper")
    assert code == 0
    import json

    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert len(report["rounds"]) == 1
    assert report["stop_reason"] == "plugin 'stopper' asked to stop (its boostlora_round_end returned True)"


def test_a_hook_that_returns_something_else_is_one_line(toy_plugin, tmp_path, capsys):
    register_plugin(StopWith(5), name="stopper")
    try:
        code = main(["run", "--plugin", "toy", "--task", "toy", "--out", str(tmp_path / "run"), *FAST])
    finally:
        unregister_plugin("stopper")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "plugin 'stopper': boostlora_round_end returned 5 (int)" in err[0]


def test_dataclass_predictions_are_json_holdable():
    from dataclasses import dataclass

    from boostlora.contract.checks import check_evaluation

    @dataclass
    class Answer:
        label: int
        probabilities: tuple[float, ...]

    evaluation = Evaluation([Answer(1, (0.2, 0.8))], [Verdict(True)], {"auroc": 1.0})
    assert check_evaluation("task 't'", evaluation, 1) is evaluation


def test_an_installed_plugin_with_a_misspelled_hook_is_one_line_and_exit_2(tmp_path):
    """End to end: a real entry point (a dist-info on the path), the console command, no traceback."""
    import os
    import subprocess
    import sys

    (tmp_path / "sentiment_plugin.py").write_text(
        "from boostlora import hookimpl\n\n\n@hookimpl\ndef boostlora_register_task(register):\n    pass\n"
    )
    info = tmp_path / "sentiment_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sentiment-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[boostlora]\nsentiment = sentiment_plugin\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "boostlora.cli", "run", "--plugin", "sentiment", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env=env)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "plugin 'sentiment' implements unknown hook 'boostlora_register_task': did you mean 'boostlora_register_tasks'?" in lines[0]
    assert not out.exists()


def test_options_without_the_dataclass_decorator_are_refused_by_name():
    from boostlora import Options, Task, option

    class Forgotten(Options):  # no @dataclass
        n: int = option(3, "how many")

    with pytest.raises(ConfigError, match=r"Broken.Options \(Forgotten\) is not a dataclass: decorate it with @dataclass"):
        class Broken(Task):  # noqa: F841
            name = "broken"
            Options = Forgotten


def test_a_misnamed_hook_parameter_names_plugin_hook_and_parameter():
    @hookimpl
    def boostlora_round_end(run, recrod):
        pass

    module = types.SimpleNamespace(boostlora_round_end=boostlora_round_end)
    with pytest.raises(ConfigError) as caught:
        register_plugin(module, name="logger")
    assert str(caught.value) == ("plugin 'logger': boostlora_round_end() has a parameter 'recrod' that the hook does not "
                                 "pass: did you mean 'record'? boostlora_round_end passes run, record")
    assert plugin_manager.pm.get_plugin("logger") is None


def test_an_installed_plugin_with_a_misnamed_parameter_is_left_out_and_the_others_load(monkeypatch):
    @hookimpl
    def boostlora_register_tasks(registr):
        pass

    class EntryPoint:
        name, value, dist = "sentiment", "sentiment.plugin", None

        def load(self):
            return types.SimpleNamespace(boostlora_register_tasks=boostlora_register_tasks)

    class Builtin(EntryPoint):
        name, value = "toy-installed", "tests.toy_plugin"

        def load(self):
            from .. import toy_plugin

            return toy_plugin

    monkeypatch.setattr(plugin_manager, "entry_points", lambda group: [EntryPoint(), Builtin()])
    manager, errors = plugin_manager._load_manager()
    assert [str(e) for e in errors] == [
        "plugin 'sentiment': boostlora_register_tasks() has a parameter 'registr' that the hook does not pass: did you "
        "mean 'register'? boostlora_register_tasks passes register (set BOOSTLORA_DISABLE_PLUGIN_AUTOLOAD=1 to run "
        "without third-party plugins)"]
    assert manager.get_plugin("sentiment") is None and manager.get_plugin("toy-installed") is not None
    with pytest.raises(ConfigError, match="plugin 'sentiment': boostlora_register_tasks"):
        plugin_manager._new_manager()


def test_boostlora_plugins_lists_the_others_then_names_the_broken_one(monkeypatch, capsys):
    broken = ConfigError("plugin 'sentiment': boostlora_register_tasks() has a parameter 'registr' ...")
    monkeypatch.setattr(plugin_manager, "load_errors", [broken])
    code = main(["plugins"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.strip().splitlines() == [f"boostlora: error: {broken}"]
    listed = captured.out.splitlines()
    assert {"math", "code", "protein"} <= set(listed), listed
    assert main(["settings", "--plugin", "math"]) == 2  # any other command refuses while a plugin is broken
    assert capsys.readouterr().err.strip().splitlines() == [f"boostlora: error: {broken}"]


def test_an_options_default_of_the_wrong_type_is_refused_when_the_plugin_registers(capsys):
    from dataclasses import dataclass

    from boostlora import Options, option

    from ..toy_plugin import ToyTask

    @hookimpl
    def boostlora_register_tasks(register):
        @dataclass
        class BatchOptions(Options):
            batch_size: int = option("32", "examples per batch")

        class Batched(ToyTask):
            name = "batched"
            Options = BatchOptions

        register(Batched)

    register_plugin(types.SimpleNamespace(boostlora_register_tasks=boostlora_register_tasks), name="batched")
    try:
        code = main(["plugins"])
    finally:
        unregister_plugin("batched")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [
        "boostlora: error: plugin 'batched': Batched.Options.batch_size: its default must be an integer, got '32' (fix "
        "the option(...) default or the field's type)"]


def test_an_installed_plugin_with_a_misnamed_parameter_end_to_end(tmp_path):
    """A real entry point, the console command: `boostlora plugins` lists the built-in plugins on stdout, then one
    line for the broken one on stderr, exit 2."""
    import os
    import subprocess
    import sys

    (tmp_path / "logger_plugin.py").write_text(
        "from boostlora import hookimpl\n\n\n@hookimpl\ndef boostlora_run_end(run, reprot):\n    pass\n"
    )
    info = tmp_path / "logger_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: logger-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[boostlora]\nlogger = logger_plugin\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    proc = subprocess.run([sys.executable, "-m", "boostlora.cli", "plugins"], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "boostlora: error: plugin 'logger': boostlora_run_end() has a parameter 'reprot' that the hook does not pass: "
        "did you mean 'report'? boostlora_run_end passes run, report (set BOOSTLORA_DISABLE_PLUGIN_AUTOLOAD=1 to run "
        "without third-party plugins)"]
    assert {"math", "code", "protein"} <= set(proc.stdout.splitlines()), proc.stdout
