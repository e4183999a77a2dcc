"""The code task's entry in the CPU suite (`boostlora bench --suite cpu --plugins code`), enumerated without training.

The suite has no saved code runs yet; this keeps the entry runnable: the preset is found, every method resolves at
equal optimizer steps, and one seed asks for exactly the units the table needs.
"""

from __future__ import annotations

from boostlora.bench import units
from boostlora.bench.units import (
    Entry,
    method_configs,
    run_entry,
    steps_per_round,
    suite_entries,
)


def test_the_cpu_suite_includes_the_generated_code_task_through_its_bench_cpu_preset():
    assert suite_entries("cpu", ["code"]) == [Entry("code", "code", "bench-cpu")]
    configs = method_configs(Entry("code", "code", "bench-cpu"), seed=3)
    rotate = configs["boost-rotate"]
    assert (rotate.strategy, configs["boost-top"].strategy) == ("rotate", "top")
    assert rotate.task_options["dataset"] == "generated" and rotate.task_options["allow_code_execution"] is True
    # single-shot TinyLoRA gets every rotate round's steps in one round: 2 rounds x 1 step
    assert steps_per_round(rotate) * rotate.max_rounds == 2
    assert configs["tinylora"].objective_options["steps"] == 2 and configs["tinylora"].max_rounds == 1
    assert {c.seed for c in configs.values()} == {3}


def test_one_seed_of_the_code_entry_asks_for_rotate_top_and_single_shot_units(monkeypatch):
    asked = []

    def boosting(config, rounds, run_dir=None):
        asked.append((config.strategy, rounds))
        return {"kind": "boosting", "rounds": [{}] * rounds, "rounds_asked": rounds}

    def single(config, method, steps):
        asked.append((method, steps))
        return {"kind": "single", "steps": steps}

    monkeypatch.setattr(units, "boosting_unit", boosting)
    monkeypatch.setattr(units, "single_shot_unit", single)
    saved = {}
    done = run_entry(Entry("code", "code", "bench-cpu"), ("zero-shot", "tinylora", "boost-top", "boost-rotate"), 0,
                     extensions=(1,), save=lambda key, unit: saved.setdefault(key, unit))
    assert sorted(done) == ["boost-rotate", "boost-top", "tinylora@1x"]
    assert asked == [("rotate", 2), ("top", 2), ("tinylora", 2)]
    assert sorted(saved) == ["code/code|boost-rotate|0", "code/code|boost-top|0", "code/code|tinylora@1x|0"]
