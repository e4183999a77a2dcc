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
    assert table.replace("plots/cpu-", "") == (out / "RESULTS-cpu.md").read_text()
    assert "| toy/toy | boost-rotate |" in table and "boostlora bench --suite cpu" in table
    assert (out / "toy-toy.png").stat().st_size > 5000
    # the committed table renders on its own: its plots are copied beside it
    assert "![toy/toy](plots/cpu-toy-toy.png)" in table
    assert (out / "plots" / "cpu-toy-toy.png").read_bytes() == (out / "toy-toy.png").read_bytes()


def test_published_numbers_are_printed_beside_ours(suite):
    out, results = suite
    assert results["toy/toy"]["boost-rotate"]["paper"] == 0.75 and "paper" not in results["toy/toy"]["tinylora"]
    lines = (out / "RESULTS.md").read_text().splitlines()
    header = next(line for line in lines if line.startswith("| task |"))
    rows = {line.split(" | ")[1]: line for line in lines if line.startswith("| toy/toy |")}
    assert header.split(" | ")[3] == "paper" and rows["boost-rotate"].split(" | ")[3] == "0.750"
    assert {row.count("|") for row in rows.values()} == {header.count("|")}  # empty cells keep columns aligned


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
    assert rows["boost-rotate"]["rounds"] == rows["boost-rotate"]["rounds_merged"] == 3


def test_each_method_gets_its_own_settings_and_command_line_overrides_win(toy_plugin, tmp_path):
    resolved = run_suite("cpu", tmp_path, plugins=["toy"], overrides={"max_rounds": 2}, dry_run=True)["toy/toy"]
    assert set(resolved) == {"boost-rotate", "boost-top", "tinylora", "lora-r8", "full-ft"}
    assert resolved["full-ft"]["objective_options"]["lr"] == 0.01  # the task's baseline_settings
    assert "lr" not in resolved["lora-r8"]["objective_options"] and "lr" not in resolved["boost-rotate"]["objective_options"]
    assert resolved["full-ft"]["objective_options"]["steps"] == resolved["tinylora"]["objective_options"]["steps"]
    forced = run_suite("cpu", tmp_path, plugins=["toy"], overrides={"objective_options.lr": 0.3}, dry_run=True)
    assert forced["toy/toy"]["full-ft"]["objective_options"]["lr"] == 0.3


def test_a_bad_task_setting_stops_the_suite_before_anything_runs(toy_plugin, tmp_path, monkeypatch):
    import boostlora.bench as bench

    monkeypatch.setattr(bench, "run_entry", lambda *a, **k: pytest.fail("a run started"))
    with pytest.raises(ConfigError, match=r"toy/toy \(boost-rotate\): task 'toy' has no option\(s\) n_trian"):
        run_suite("cpu", tmp_path / "out", plugins=["toy"], overrides={"task_options.n_trian": 3})
    assert not (tmp_path / "out").exists()


def test_an_interrupted_suite_resumes_without_rerunning_finished_tasks(toy_plugin, tmp_path, monkeypatch):
    import boostlora.bench as bench

    calls = []

    def fake_entry(entry, methods, seed, overrides):
        calls.append(entry.label)
        if entry.label == "toy/toy (long)" and len(calls) == 2:
            raise KeyboardInterrupt
        row = {"final_eval_accuracy": 0.5, "trainable_params": 4, "total_trainable_params": 4, "final_rank": 2,
               "rounds": 1, "rounds_merged": 1, "seconds": 1.0, "curve": [0.4, 0.5], "ranks": [0, 2]}
        return {"boost-rotate": row}

    monkeypatch.setattr(bench, "run_entry", fake_entry)
    monkeypatch.setattr(bench, "suite_entries", lambda suite, plugins: [bench.Entry("toy", "toy", "default"),
                                                                        bench.Entry("toy", "toy", "long")])
    with pytest.raises(KeyboardInterrupt):
        run_suite("cpu", tmp_path, plugins=["toy"])
    assert list(json.loads((tmp_path / "suite-cpu.json").read_text())["results"]) == ["toy/toy"]
    results = run_suite("cpu", tmp_path, plugins=["toy"], resume=True)
    assert calls == ["toy/toy", "toy/toy (long)", "toy/toy (long)"]
    assert list(results) == ["toy/toy", "toy/toy (long)"]


def test_dry_run_resolves_every_setting_and_trains_nothing(toy_plugin, tmp_path):
    resolved = run_suite("cpu", tmp_path / "dry", plugins=["toy"], overrides=OVERRIDES, dry_run=True)
    single = resolved["toy/toy"]["tinylora"]
    assert single["max_rounds"] == 1 and single["train_on"] == "all" and single["strategy"] == "top"
    assert single["objective_options"]["steps"] == 3 * 20
    assert not (tmp_path / "dry").exists()
    with pytest.raises(ConfigError, match="unknown suite"):
        run_suite("gpu", tmp_path, dry_run=True)
