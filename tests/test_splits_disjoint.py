"""Train, validation and held-out never share an example, for every built-in task's offline presets.

Settings are chosen on validation (``evaluate_on=validation``) and reported on held-out; either leaking into
the other, or into train, would make the benchmark's numbers optimistic.
"""

from __future__ import annotations

import pytest

from boostlora.contract.plugins import find_task
from boostlora.contract.splits import carve_validation, evaluation_splits
from boostlora.foundation.config import merge_settings

BUILT_IN = [(plugin, preset) for plugin in ("math", "code", "protein") for preset in ("default", "bench-cpu")]


def content(task, example) -> object:
    """What makes two examples the same problem: the prompt the model sees, or the sequences it encodes."""
    if hasattr(task, "prompt"):
        return repr(task.prompt(example))
    return (example.sequence, example.partner)


def preset_task(plugin: str, preset: str, monkeypatch) -> tuple[type, dict]:
    """A built-in task class and a preset's task options, ready to load problems (skipped where there is no preset)."""
    monkeypatch.setenv("BOOSTLORA_ALLOW_CODE_EXEC", "1")  # building the code task asks for consent; nothing runs
    cls = find_task(plugin, None)
    if preset not in cls.presets:
        pytest.skip(f"{plugin} has no {preset} preset")
    options = dict(merge_settings({}, dict(cls.presets[preset]), preset).get("task_options", {}))
    if plugin == "code":
        options["allow_code_execution"] = True  # loading problems runs nothing, but the task asks up front
        options["sandbox_isolation"] = "rlimits"  # and checks its sandbox: name one that exists without bubblewrap
    return cls, options


@pytest.mark.parametrize("plugin,preset", BUILT_IN)
def test_train_validation_and_held_out_are_disjoint(plugin, preset, monkeypatch):
    cls, options = preset_task(plugin, preset, monkeypatch)
    task = cls(options)
    for seed in (0, 1, 2, 3, 4):
        splits = task.load_splits(seed)
        carved = carve_validation(splits, 0.25, seed)
        train = {content(task, x) for x in carved.train}
        validation = {content(task, x) for x in carved.eval}
        held_out = {content(task, x) for x in splits.eval}
        assert train and validation and held_out
        assert not train & validation, (plugin, preset, seed)
        assert not train & held_out, (plugin, preset, seed, len(train & held_out))
        assert not validation & held_out, (plugin, preset, seed)
        assert len(carved.train) + len(carved.eval) == len(splits.train)


def test_validation_is_the_same_for_every_method_of_a_seed_and_differs_across_seeds():
    from boostlora.contract.values import Splits

    splits = Splits(train=list(range(100)), eval=[])
    assert carve_validation(splits, 0.2, 3).eval == carve_validation(splits, 0.2, 3).eval
    assert carve_validation(splits, 0.2, 3).eval != carve_validation(splits, 0.2, 4).eval
    assert len(carve_validation(splits, 0.2, 3).eval) == 20


@pytest.mark.parametrize("plugin,preset", BUILT_IN)
def test_a_runs_three_splits_are_disjoint_and_generated_validation_leaves_train_and_test_alone(plugin, preset, monkeypatch):
    """The splits a run uses (train, validation for decisions, the reported split) share no problem, in both modes;
    a task that generates its own validation split keeps exactly the train and held-out items it had without it."""
    cls, options = preset_task(plugin, preset, monkeypatch)
    task = cls(options)
    for seed in (0, 1, 2):
        given = task.load_splits(seed)
        for evaluate_on in ("held-out", "validation"):
            splits = evaluation_splits(given, evaluate_on, 0.25, seed)
            train = {content(task, x) for x in splits.train}
            validation = {content(task, x) for x in splits.validation}
            reported = {content(task, x) for x in splits.eval}
            assert train and validation and reported
            assert not train & validation and not train & reported and not validation & reported, (plugin, evaluate_on, seed)
        # generated data: a validation split of their own, of a useful size (code's problems cost a generation and
        # a sandboxed run each, hence fewer; code's bench-cpu keeps 16, since the suite's rows read held-out
        # accuracy per round and no decision of theirs reads validation)
        least = {("code", "bench-cpu"): 16, ("code", "default"): 64}.get((plugin, preset), 200)
        assert given.validation is not None and len(given.validation) >= least, (plugin, seed)
        without = cls({**options, ("synthetic_validation_size" if plugin == "protein" else "validation_size"): 0})
        plain = without.load_splits(seed)
        assert plain.validation is None
        assert [content(task, x) for x in plain.train] == [content(task, x) for x in given.train]
        assert [content(task, x) for x in plain.eval] == [content(task, x) for x in given.eval]
