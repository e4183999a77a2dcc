"""Every hook in the plugin contract is exercised here; adding a hook without a test fails this module."""

from __future__ import annotations

import inspect

from boostlora import hookimpl
from boostlora.contract import hookspecs
from boostlora.foundation.config import build_config
from boostlora.runs.lifecycle import boost
from boostlora.contract.plugins import collect, register_plugin, unregister_plugin

FAST = {"plugin": "toy", "task": "toy", "u": 4, "weight_tying": 0.0, "targets": ["out"], "max_rounds": 3,
        "show_progress": False, "objective_options": {"steps": 10}}


class Recorder:
    def __init__(self, stop_at: int | None = None) -> None:
        self.calls: list[tuple[str, object]] = []
        self.stop_at = stop_at

    @hookimpl
    def boostlora_run_start(self, run):
        self.calls.append(("run_start", run.rounds_done))

    @hookimpl
    def boostlora_round_end(self, run, record):
        self.calls.append(("round_end", record.round))
        return "recorder asked to stop" if record.round == self.stop_at else None

    @hookimpl
    def boostlora_run_end(self, run, report):
        self.calls.append(("run_end", len(report["rounds"])))


def run_with(recorder: Recorder) -> dict:
    register_plugin(recorder, name="recorder")
    try:
        return boost(build_config(FAST))
    finally:
        unregister_plugin("recorder")


def test_lifecycle_hooks_fire_in_order(toy_plugin):
    recorder = Recorder()
    run_with(recorder)
    assert recorder.calls == [("run_start", 0), ("round_end", 0), ("round_end", 1), ("round_end", 2), ("run_end", 3)]


def test_round_end_can_stop_a_run(toy_plugin):
    recorder = Recorder(stop_at=0)
    report = run_with(recorder)
    assert len(report["rounds"]) == 1
    assert report["stop_reason"] == "recorder asked to stop"


def test_register_tasks_and_objectives(toy_plugin):
    plugins = collect()
    assert set(plugins["toy"].tasks) == {"toy", "empty", "own-evaluate"}
    assert "cross_entropy" in plugins["boostlora.objectives"].objectives


HOOK_TESTS = {
    "boostlora_register_tasks": test_register_tasks_and_objectives,
    "boostlora_register_objectives": test_register_tasks_and_objectives,
    "boostlora_run_start": test_lifecycle_hooks_fire_in_order,
    "boostlora_round_end": test_round_end_can_stop_a_run,
    "boostlora_run_end": test_lifecycle_hooks_fire_in_order,
}


def test_every_hook_has_a_test():
    specs = {name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("boostlora_")}
    assert specs == set(HOOK_TESTS), f"hooks without a test: {sorted(specs - set(HOOK_TESTS))}"
    for spec in specs:
        assert inspect.getdoc(getattr(hookspecs, spec)), f"{spec} has no docstring"


class Meddler:
    """A hook that inspects what it is given and tries to change it."""

    def __init__(self) -> None:
        self.seen: list[tuple[type, type]] = []

    @hookimpl
    def boostlora_round_end(self, run, record):
        import dataclasses

        self.seen.append((type(run), type(record)))
        run.config.max_rounds = 1  # a copy: the run goes on
        for target in (run, record):
            try:
                setattr(target, "round", 99)
            except dataclasses.FrozenInstanceError:
                pass
            else:
                raise AssertionError(f"{type(target).__name__} is writable")

    @hookimpl
    def boostlora_run_end(self, run, report):
        report["rounds"].clear()  # a copy: report.json keeps its rounds


def test_hooks_receive_typed_read_only_objects(toy_plugin):
    from boostlora import RoundRecord, RunView

    meddler = Meddler()
    register_plugin(meddler, name="meddler")
    try:
        report = boost(build_config(FAST))
    finally:
        unregister_plugin("meddler")
    assert meddler.seen == [(RunView, RoundRecord)] * 3
    assert [rec["round"] for rec in report["rounds"]] == [0, 1, 2]



def test_a_hook_written_for_dict_records_still_runs_with_a_deprecation_warning():
    """Plugins written against the release before typed records read ``record["round"]``: still works, and warns."""
    import warnings

    from boostlora import RoundRecord

    record = RoundRecord(round=3, n_train=10, n_failures=4, train_accuracy=0.6, eval_accuracy=0.5, trainable_params=2,
                         cumulative_params=8, effective_rank={"m": 8}, entropy_rank={"m": 7.5}, seconds=1.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert record["round"] == 3 and record["eval_accuracy"] == 0.5
    assert any(issubclass(w.category, DeprecationWarning) and "record.round" in str(w.message) for w in caught)
    import pytest

    with pytest.raises(KeyError):
        record["no_such_field"]
