"""The benchmark machinery on the toy plugin, in seconds, so the real suite cannot rot."""

from __future__ import annotations

import json

import pytest

from boostlora.bench import METHODS, run_suite
from boostlora.errors import ConfigError

OVERRIDES = {"u": 4, "weight_tying": 0.0, "targets": ["out"], "max_rounds": 3, "show_progress": False,
             "objective_options": {"lr": 0.1, "steps": 20, "batch_size": 64}}


@pytest.fixture(scope="module")
def suite(toy_plugin, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    results = run_suite("cpu", out, plugins=["toy"], overrides=OVERRIDES, results_file=out / "RESULTS.md")
    return out, results


def test_every_method_reports_on_every_task(suite):
    out, results = suite
    assert set(results) == {"toy/toy"}  # the toy plugin's other task has no preset, so no suite includes it
    rows = results["toy/toy"]
    assert tuple(rows) == METHODS
    saved = json.loads((out / "suite-cpu.json").read_text())
    assert saved["results"]["toy/toy"]["boost-rotate"]["final_eval_accuracy"] == rows["boost-rotate"]["final_eval_accuracy"]
    table = (out / "RESULTS.md").read_text()
    assert table == (out / "RESULTS-cpu.md").read_text()
    assert "| toy/toy | boost-rotate |" in table and "boostlora bench --suite cpu" in table
    assert (out / "toy-toy.png").stat().st_size > 5000


def test_ranks_and_parameter_counts_come_from_the_runs(suite):
    _, results = suite
    rows = results["toy/toy"]
    assert rows["boost-rotate"]["final_rank"] == 3 * 2
    assert rows["boost-top"]["final_rank"] <= 2
    assert rows["tinylora"]["final_rank"] <= 2
    assert rows["boost-rotate"]["trainable_params"] == rows["tinylora"]["trainable_params"] == 4
    assert rows["boost-rotate"]["total_trainable_params"] == 12
    assert rows["lora-r8"]["trainable_params"] == 8 * (16 + 8)
    assert rows["full-ft"]["trainable_params"] == 16 * 16 + 16 + 8 * 16 + 8
    assert rows["lora-r8"]["final_rank"] <= 8 and rows["full-ft"]["final_rank"] == 8
    assert rows["zero-shot"]["final_eval_accuracy"] == rows["boost-rotate"]["curve"][0]


def test_dry_run_resolves_every_setting_and_trains_nothing(toy_plugin, tmp_path):
    resolved = run_suite("cpu", tmp_path / "dry", plugins=["toy"], overrides=OVERRIDES, dry_run=True)
    single = resolved["toy/toy"]["tinylora"]
    assert single["max_rounds"] == 1 and single["train_on"] == "all" and single["strategy"] == "top"
    assert single["objective_options"]["steps"] == 3 * 20
    assert not (tmp_path / "dry").exists()
    with pytest.raises(ConfigError, match="unknown suite"):
        run_suite("gpu", tmp_path, dry_run=True)
