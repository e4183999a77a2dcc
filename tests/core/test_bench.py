"""The benchmark machinery on the toy plugin, in seconds, so the real suite cannot rot."""

from __future__ import annotations

import json

import pytest
from boostlora.bench.suite import run_suite
from boostlora.foundation.errors import ConfigError, Interrupted

OVERRIDES = {"u": 4, "weight_tying": 0.0, "targets": ["out"], "max_rounds": 2, "show_progress": False,
             "objective_options": {"lr": 0.1, "steps": 20, "batch_size": 64}}
SEEDS = [0, 1, 2]


@pytest.fixture(scope="module")
def suite(toy_plugin, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    results = run_suite("cpu", out, plugins=["toy"], overrides=OVERRIDES, seeds=SEEDS, extensions=[1, 2],
                        results_file=out / "RESULTS.md")
    return out, results


def test_every_method_reports_over_every_seed(suite):
    out, results = suite
    assert set(results) == {"toy/toy"}  # the toy plugin's other task has no preset, so no suite includes it
    rows = results["toy/toy"]
    assert list(rows)[:6] == ["zero-shot", "tinylora", "boost-top", "boost-rotate", "lora-r8", "full-ft"]
    assert {"tinylora 2x", "boost-top 2x", "boost-rotate 2x"} <= set(rows)
    assert all(row["seeds"] == SEEDS for row in rows.values())
    table = (out / "RESULTS.md").read_text()
    assert table.replace("plots/cpu-", "") == (out / "RESULTS-cpu.md").read_text()
    assert "| boost-rotate | " in table and "boostlora bench --suite cpu" in table and "95% CI" in table
    for method, row in rows.items():  # each row names the seeds it stands on
        mean, ci = f"{row['interval'].mean:.3f}", f"[{row['interval'].low:.3f}, {row['interval'].high:.3f}]"
        assert f"| {method} | {mean} | {ci} | 0-2 | " in table, method
    assert (out / "toy-toy.png").stat().st_size > 5000
    assert "![toy/toy](plots/cpu-toy-toy.png)" in table
    assert (out / "plots" / "cpu-toy-toy.png").read_bytes() == (out / "toy-toy.png").read_bytes()


def test_regenerating_the_tables_keeps_the_hand_written_conclusion(suite, toy_plugin):
    from boostlora.bench.tables import BY_HAND_END, BY_HAND_START

    out, _ = suite
    results = out / "WITH-NOTE.md"
    note = f"{BY_HAND_START}\n# What this shows\n\nRotate ties top here.\n{BY_HAND_END}\n\n"
    results.write_text(note + "old tables")
    run_suite("cpu", out, plugins=["toy"], overrides=OVERRIDES, seeds=SEEDS, extensions=[1, 2], resume=True,
              results_file=results)
    text = results.read_text()
    assert text.startswith(note) and "old tables" not in text and "| boost-rotate |" in text


def test_item_verdicts_are_saved_beside_the_suite_and_recompute_its_accuracies(suite):
    out, results = suite
    units = json.loads((out / "suite-cpu.json").read_text())["units"]
    verdicts = json.loads((out / "suite-cpu-verdicts.json").read_text())
    assert set(units) == set(verdicts)
    for seed in SEEDS:
        rotate = verdicts[f"toy/toy|boost-rotate|{seed}"]
        assert len(rotate["base"]) == 256 and set(rotate["base"]) <= {0, 1}
        # the accuracy the table reports is the mean of the saved verdicts: nothing needs rerunning
        assert sum(rotate["round1"]) / 256 == units[f"toy/toy|boost-rotate|{seed}"]["rounds"][1]["accuracy"]
        single = verdicts[f"toy/toy|tinylora@1x|{seed}"]["final"]
        assert sum(single) / 256 == units[f"toy/toy|tinylora@1x|{seed}"]["accuracy"]
    assert "verdicts" not in json.dumps(units)  # the suite JSON stays small


def test_the_1x_rows_are_the_first_rounds_of_the_extended_runs(suite, toy_plugin, tmp_path):
    """A 2-round run is exactly the first two rounds of the 4-round run the suite made for its 2x rows."""
    out, results = suite
    short = run_suite("cpu", tmp_path, plugins=["toy"], overrides=OVERRIDES, seeds=[1], extensions=[1],
                      methods=("boost-rotate",))
    units = json.loads((out / "suite-cpu.json").read_text())["units"]
    assert units["toy/toy|boost-rotate|1"]["rounds_asked"] == 4
    assert short["toy/toy"]["boost-rotate"]["interval"].mean == units["toy/toy|boost-rotate|1"]["rounds"][1]["accuracy"]


def test_ranks_steps_and_parameter_counts_come_from_the_runs(suite):
    _, results = suite
    rows = results["toy/toy"]
    assert rows["boost-rotate"]["rank"] == 2 * 2 and rows["boost-top"]["rank"] <= 2 and rows["tinylora"]["rank"] <= 2
    assert rows["boost-rotate"]["params"] == rows["tinylora"]["params"] == 4
    assert rows["boost-rotate"]["total_params"] == 8
    assert rows["lora-r8"]["params"] == 8 * (16 + 8)
    assert rows["full-ft"]["params"] == 16 * 16 + 16 + 8 * 16 + 8
    for method in ("boost-rotate", "boost-top", "tinylora", "lora-r8", "full-ft"):
        assert rows[method]["steps"] == 2 * 20, method  # equal optimizer steps at 1x
    assert rows["tinylora 2x"]["steps"] == rows["boost-top 2x"]["steps"] == 4 * 20
    assert rows["boost-rotate 2x"]["rank"] == 4 * 2  # rotate keeps adding r per merged round


def test_rotate_is_compared_with_every_method_at_equal_steps_paired_by_seed(suite):
    out, _ = suite
    table = (out / "RESULTS.md").read_text()
    for other in ("zero-shot", "tinylora", "boost-top", "lora-r8", "full-ft"):
        assert f"| boost-rotate vs {other} |" in table
    assert "| boost-rotate 2x vs tinylora 2x |" in table and "| boost-rotate 2x vs boost-top 2x |" in table
    assert "| boost-rotate vs tinylora 2x |" not in table  # never across step budgets
    # the toy's 8x16 output layer holds 4 rotate rounds at r=2: rotate 2x stops there and says it took fewer steps
    assert "| boost-rotate 2x vs tinylora 2x | 0-2 | 80 / 80 |" in table
    assert "| boost-rotate vs tinylora | 0-2 | 40 / 40 |" in table


def test_each_method_gets_its_own_settings_and_command_line_overrides_win(toy_plugin, tmp_path):
    resolved = run_suite("cpu", tmp_path, plugins=["toy"], overrides={"max_rounds": 2}, dry_run=True)["toy/toy"]
    assert set(resolved) == {"boost-rotate", "boost-top", "tinylora", "lora-r8", "full-ft"}
    assert resolved["full-ft"]["objective_options"]["lr"] == 0.01  # the task's baseline_settings
    assert "lr" not in resolved["lora-r8"]["objective_options"] and "lr" not in resolved["boost-rotate"]["objective_options"]
    assert resolved["full-ft"]["objective_options"]["steps"] == resolved["tinylora"]["objective_options"]["steps"]
    forced = run_suite("cpu", tmp_path, plugins=["toy"], overrides={"objective_options.lr": 0.3}, dry_run=True)
    assert forced["toy/toy"]["full-ft"]["objective_options"]["lr"] == 0.3


def test_a_bad_task_setting_stops_the_suite_before_anything_runs(toy_plugin, tmp_path, monkeypatch):
    import boostlora.bench.suite as bench

    monkeypatch.setattr(bench, "run_entry", lambda *a, **k: pytest.fail("a run started"))
    with pytest.raises(ConfigError, match=r"toy/toy \(boost-rotate\): task 'toy' has no option\(s\) n_trian"):
        run_suite("cpu", tmp_path / "out", plugins=["toy"], overrides={"task_options.n_trian": 3})
    assert not (tmp_path / "out").exists()


def test_bad_seeds_or_extensions_are_refused(toy_plugin, tmp_path):
    with pytest.raises(ConfigError, match="must include 1"):
        run_suite("cpu", tmp_path, plugins=["toy"], extensions=[2, 4])
    with pytest.raises(ConfigError, match="distinct"):
        run_suite("cpu", tmp_path, plugins=["toy"], seeds=[0, 0])


def test_an_interrupted_suite_resumes_without_rerunning_finished_runs(toy_plugin, tmp_path, monkeypatch):
    import boostlora.bench.units as bench

    calls = []
    real = bench.boosting_unit

    def counting(config, rounds, run_dir=None):
        calls.append((config.strategy, config.seed))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(config, rounds, run_dir)

    monkeypatch.setattr(bench, "boosting_unit", counting)
    options = dict(plugins=["toy"], overrides=OVERRIDES, seeds=[0, 1], extensions=[1], methods=("boost-top", "boost-rotate"))
    with pytest.raises(Interrupted, match="finished units are saved in"):
        run_suite("cpu", tmp_path, **options)
    saved = json.loads((tmp_path / "suite-cpu.json").read_text())["units"]
    assert sorted(saved) == ["toy/toy|boost-rotate|0", "toy/toy|boost-top|0"]
    results = run_suite("cpu", tmp_path, resume=True, **options)
    assert calls == [("rotate", 0), ("top", 0), ("rotate", 1), ("rotate", 1), ("top", 1)]
    assert results["toy/toy"]["boost-rotate"]["seeds"] == [0, 1]


def test_a_resumed_suite_asking_for_longer_extensions_runs_short_boosting_runs_again(toy_plugin, tmp_path, monkeypatch):
    """A 1x run saved earlier must not stand in for a 2x row: the row would be the 1x run under a 2x label."""
    import boostlora.bench.units as bench

    calls = []
    real = bench.boosting_unit

    def counting(config, rounds, run_dir=None):
        calls.append((config.strategy, config.seed, rounds))
        return real(config, rounds, run_dir)

    monkeypatch.setattr(bench, "boosting_unit", counting)
    options = dict(plugins=["toy"], overrides=OVERRIDES, methods=("boost-rotate",))
    run_suite("cpu", tmp_path, seeds=[0, 1], extensions=[1], **options)
    results = run_suite("cpu", tmp_path, seeds=[0], extensions=[1, 2], resume=True, **options)
    assert calls == [("rotate", 0, 2), ("rotate", 1, 2), ("rotate", 0, 4)]
    rows = results["toy/toy"]
    assert rows["boost-rotate"]["seeds"] == [0, 1]
    assert rows["boost-rotate 2x"]["seeds"] == [0]  # seed 1's run has 2 rounds: no 2x row from it
    assert rows["boost-rotate 2x"]["steps"] == 4 * 20 and rows["boost-rotate 2x"]["rounds"] == 4
    # single-shot rows alone: rotate's saved 1x run sets their budget and is not run again for them
    calls.clear()
    results = run_suite("cpu", tmp_path, seeds=[1], extensions=[1, 2], resume=True, plugins=["toy"],
                        overrides=OVERRIDES, methods=("tinylora",))
    assert calls == []
    assert results["toy/toy"]["tinylora 2x"]["steps"] == 2 * 2 * 20


def test_dry_run_resolves_every_setting_and_trains_nothing(toy_plugin, tmp_path):
    resolved = run_suite("cpu", tmp_path / "dry", plugins=["toy"], overrides=OVERRIDES, dry_run=True)
    single = resolved["toy/toy"]["tinylora"]
    assert single["max_rounds"] == 1 and single["train_on"] == "all" and single["strategy"] == "top"
    assert single["objective_options"]["steps"] == 2 * 20
    assert not (tmp_path / "dry").exists()
    with pytest.raises(ConfigError, match="unknown suite"):
        run_suite("gpu", tmp_path, dry_run=True)


def test_bench_settings_may_follow_the_seeds_on_the_command_line(toy_plugin, capsys):
    from boostlora.cli import main

    assert main(["bench", "--suite", "cpu", "--plugins", "toy", "--seeds", "0", "1", "max_rounds=2",
                 "objective_options.lr=0.3", "--dry-run"]) == 0
    resolved = json.loads(capsys.readouterr().out)["toy/toy"]
    assert resolved["boost-rotate"]["max_rounds"] == 2 and resolved["full-ft"]["objective_options"]["lr"] == 0.3


def test_rotate_stops_where_a_module_runs_out_of_directions(toy_plugin, tmp_path):
    """The toy's 8x16 output layer holds 4 rounds at r=2: 2x of 3 rounds asks for 6, and the suite runs 4."""
    run_suite("cpu", tmp_path, plugins=["toy"], overrides={**OVERRIDES, "max_rounds": 3}, seeds=[0], extensions=[1, 2],
              methods=("boost-rotate",))
    unit = json.loads((tmp_path / "suite-cpu.json").read_text())["units"]["toy/toy|boost-rotate|0"]
    assert unit["rounds_asked"] == 6 and len(unit["rounds"]) == 4


def test_suites_saved_in_several_folders_merge_into_one_table(suite, toy_plugin, tmp_path):
    """benchmarks/merge_suites.py: each task's runs may live in their own folder; joined, nothing is retrained."""
    import runpy
    from pathlib import Path

    merge = runpy.run_path(str(Path(__file__).parents[2] / "benchmarks" / "merge_suites.py"))["merge"]
    out, results = suite
    saved = json.loads((out / "suite-cpu.json").read_text())
    verdicts = json.loads((out / "suite-cpu-verdicts.json").read_text())
    for part, seeds in (("a", {"0"}), ("b", {"1", "2"})):
        keep = {k for k in saved["units"] if k.rsplit("|", 1)[1] in seeds}
        (tmp_path / part).mkdir()
        (tmp_path / part / "suite-cpu.json").write_text(json.dumps({**saved, "units": {k: saved["units"][k] for k in keep}}))
        (tmp_path / part / "suite-cpu-verdicts.json").write_text(json.dumps({k: verdicts[k] for k in keep}))
    assert merge([tmp_path / "a", tmp_path / "b"], tmp_path / "all")["units"] == len(saved["units"])
    again = run_suite("cpu", tmp_path / "all", plugins=["toy"], overrides=OVERRIDES, seeds=SEEDS, extensions=[1, 2], resume=True)
    assert again == results
    rerun = json.loads((tmp_path / "all" / "suite-cpu.json").read_text())["units"]
    assert {k: u["seconds"] for k, u in rerun.items()} == {k: u["seconds"] for k, u in saved["units"].items()}  # none retrained
    changed = json.loads((tmp_path / "b" / "suite-cpu.json").read_text())
    key = next(iter(changed["units"]))
    changed["units"][key] = {**changed["units"][key], "seconds": -1}
    (tmp_path / "b" / "suite-cpu.json").write_text(json.dumps(changed))
    with pytest.raises(SystemExit, match="saved in two folders"):
        merge([tmp_path / "all", tmp_path / "b"], tmp_path / "conflict")


def test_an_extended_training_run_replaces_the_run_it_extends_when_suites_merge(suite, toy_plugin, tmp_path):
    """A 2x boosting run saved in one folder and its 1x run in another merge to the 2x run; a run whose first rounds
    differ is refused, and so is a task run with different settings."""
    import copy
    import runpy
    from pathlib import Path

    merge = runpy.run_path(str(Path(__file__).parents[2] / "benchmarks" / "merge_suites.py"))["merge"]
    out, _ = suite
    saved = json.loads((out / "suite-cpu.json").read_text())
    verdicts = json.loads((out / "suite-cpu-verdicts.json").read_text())
    key = "toy/toy|boost-rotate|0"

    def folder(name, unit, unit_verdicts, entry_changes=None):
        entries = copy.deepcopy(saved["entries"])
        entries["toy/toy"].update(entry_changes or {})
        (tmp_path / name).mkdir()
        (tmp_path / name / "suite-cpu.json").write_text(json.dumps({**saved, "entries": entries, "units": {key: unit}}))
        (tmp_path / name / "suite-cpu-verdicts.json").write_text(json.dumps({key: unit_verdicts}))
        return tmp_path / name

    longer = saved["units"][key]
    assert longer["rounds_asked"] == 4 and len(longer["rounds"]) == 4
    shorter = {**longer, "rounds_asked": 2, "rounds": longer["rounds"][:2], "seconds": 1.0}
    short_verdicts = {k: v for k, v in verdicts[key].items() if k in ("base", "round0", "round1")}
    a = folder("short", shorter, short_verdicts, {"extensions": [1], "seeds": [0]})
    b = folder("long", longer, verdicts[key], {"extensions": [1, 2], "seeds": [0, 5]})
    for order in ([a, b], [b, a]):
        merge(order, tmp_path / "joined")
        joined = json.loads((tmp_path / "joined" / "suite-cpu.json").read_text())
        assert joined["units"][key]["rounds_asked"] == 4 and len(joined["units"][key]["rounds"]) == 4
        assert joined["entries"]["toy/toy"]["extensions"] == [1, 2] and joined["entries"]["toy/toy"]["seeds"] == [0, 5]
    other = copy.deepcopy(verdicts[key])
    other["round0"] = [1 - v for v in other["round0"]]
    c = folder("different", longer, other)
    with pytest.raises(SystemExit, match="saved in two folders .*they differ from round 0 on"):
        merge([a, c], tmp_path / "refused")
    d = folder("settings", shorter, short_verdicts, {"steps_per_round": 7})
    with pytest.raises(SystemExit, match="steps_per_round"):
        merge([b, d], tmp_path / "refused2")


def test_a_row_names_its_seeds_as_a_range_only_when_they_are_one():
    from boostlora.bench.tables import seed_list

    assert seed_list([4, 2, 3, 0, 1]) == "0-4"
    assert seed_list([0, 1]) == "0, 1"  # two seeds: both named
    assert seed_list([0, 2, 3]) == "0, 2, 3"  # a gap is never hidden inside a range


def rounds_trained(monkeypatch) -> list[int]:
    """Count the boosting rounds a run trains in this process (each call of the loop's round)."""
    import boostlora.runs.lifecycle as lifecycle

    trained: list[int] = []
    real = lifecycle.boosting_round

    def counting(run, *args, **kwargs):
        if run.rounds_done < run.config.max_rounds:  # not the call that only says the rounds are spent
            trained.append(run.rounds_done)
        return real(run, *args, **kwargs)

    monkeypatch.setattr(lifecycle, "boosting_round", counting)
    return trained


def test_a_suite_interrupted_mid_run_resumes_at_the_last_finished_round(toy_plugin, tmp_path, monkeypatch):
    """A boosting unit is checkpointed every round: after Ctrl-C in its third round, the resumed suite trains
    only the rounds left, and its verdicts are those of a suite that was never interrupted."""
    from boostlora.foundation import faults

    options = dict(plugins=["toy"], overrides=OVERRIDES, seeds=[0], extensions=[1, 2], methods=("boost-rotate",))
    whole = run_suite("cpu", tmp_path / "whole", **options)
    trained = rounds_trained(monkeypatch)
    faults.reset()
    monkeypatch.setenv(faults.ENV, "save#4=interrupt")  # saves: base, round 0, round 1, then round 2's is cut
    with pytest.raises(Interrupted, match=r"continue with: boostlora bench --suite cpu --resume$"):
        run_suite("cpu", tmp_path / "cut", **options)
    assert trained == [0, 1, 2]
    monkeypatch.delenv(faults.ENV)
    trained.clear()
    resumed = run_suite("cpu", tmp_path / "cut", resume=True, **options)
    assert trained == [2, 3]  # round 2 again (its checkpoint was never written), then round 3
    saved = {name: json.loads((tmp_path / name / "suite-cpu-verdicts.json").read_text()) for name in ("whole", "cut")}
    assert saved["cut"] == saved["whole"]
    assert resumed["toy/toy"]["boost-rotate 2x"]["interval"].mean == whole["toy/toy"]["boost-rotate 2x"]["interval"].mean
    run_dirs = sorted(p.name for p in (tmp_path / "cut" / "runs").iterdir())
    assert run_dirs == ["toy-toy-boost-rotate-seed0"]
    assert not (tmp_path / "cut" / "runs" / run_dirs[0] / "final").exists()  # verdicts are kept, models are not


def test_a_longer_suite_continues_the_saved_boosting_run_instead_of_starting_over(toy_plugin, tmp_path, monkeypatch):
    trained = rounds_trained(monkeypatch)
    options = dict(plugins=["toy"], overrides=OVERRIDES, seeds=[0], methods=("boost-rotate",))
    run_suite("cpu", tmp_path / "grown", extensions=[1], **options)
    assert trained == [0, 1]
    trained.clear()
    grown = run_suite("cpu", tmp_path / "grown", extensions=[1, 2], resume=True, **options)
    assert trained == [2, 3]
    fresh = run_suite("cpu", tmp_path / "fresh", extensions=[1, 2], **options)
    verdicts = {name: json.loads((tmp_path / name / "suite-cpu-verdicts.json").read_text()) for name in ("grown", "fresh")}
    assert verdicts["grown"] == verdicts["fresh"]
    assert grown["toy/toy"]["boost-rotate 2x"]["rank"] == fresh["toy/toy"]["boost-rotate 2x"]["rank"] == 8
    # another run's directory under the same name (other settings) is replaced, not continued
    trained.clear()
    run_suite("cpu", tmp_path / "grown", extensions=[1], plugins=["toy"], seeds=[0], methods=("boost-rotate",),
              overrides={**OVERRIDES, "u": 2})
    assert trained == [0, 1]


def test_a_single_shot_row_is_its_trained_adapter_even_when_validation_keeps_the_base_model(toy_plugin, monkeypatch):
    """keep=best hands over the base model when the round lost on validation; the row must still be the round's
    held-out accuracy, the one its saved verdicts give, as a boosting row's is."""
    import boostlora.bench.units as bench
    from boostlora.foundation.config import build_config

    report = {
        "base_eval_accuracy": 0.5, "final_eval_accuracy": 0.5, "kept_round": None, "total_trainable_params": 0,
        "rounds": [{"eval_accuracy": 0.25, "eval_verdicts": [1, 0, 0, 0], "trainable_params": 12,
                    "effective_rank": {"out": 2}}],
    }
    monkeypatch.setattr(bench, "boost", lambda config: report)
    config = build_config({"plugin": "toy", "task": "toy", "objective_options": {"lr": 0.1}})
    unit = bench.single_shot_unit(config, "tinylora", 40)
    assert unit["accuracy"] == 0.25 == sum(unit["verdicts"]) / len(unit["verdicts"])
    assert unit["params"] == 12 and unit["steps"] == 40


def test_a_longer_run_that_does_not_repeat_the_saved_shorter_run_says_so(toy_plugin, tmp_path, caplog):
    """A resumed suite that runs a boosting unit longer replaces the saved run, whose rows it then answers for:
    when its first rounds differ (another thread count, say), the log names the round and both thread counts."""
    import logging

    options = dict(plugins=["toy"], overrides=OVERRIDES, seeds=[0], methods=("boost-rotate",))
    run_suite("cpu", tmp_path, extensions=[1], **options)
    key = "toy/toy|boost-rotate|0"
    saved = json.loads((tmp_path / "suite-cpu.json").read_text())
    assert saved["units"][key]["threads"] >= 1  # each unit records the thread count it was made with
    saved["units"][key]["threads"] = 99
    (tmp_path / "suite-cpu.json").write_text(json.dumps(saved))
    with caplog.at_level(logging.WARNING, logger="boostlora.bench.units"):
        run_suite("cpu", tmp_path, extensions=[1, 2], resume=True, **options)
    assert "is not the saved" not in caplog.text  # continued from its checkpoint: the same rounds
    # the saved 2-round run as another machine might have made it: round 1 judged one item the other way
    verdicts = json.loads((tmp_path / "suite-cpu-verdicts.json").read_text())
    verdicts[key] = {name: v for name, v in verdicts[key].items() if name in ("base", "round0", "round1")}
    verdicts[key]["round1"][0] = 1 - verdicts[key]["round1"][0]
    (tmp_path / "suite-cpu-verdicts.json").write_text(json.dumps(verdicts))
    saved = json.loads((tmp_path / "suite-cpu.json").read_text())
    saved["units"][key] = {**saved["units"][key], "rounds_asked": 2, "rounds": saved["units"][key]["rounds"][:2],
                           "threads": 99}
    (tmp_path / "suite-cpu.json").write_text(json.dumps(saved))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="boostlora.bench.units"):
        run_suite("cpu", tmp_path, extensions=[1, 2], resume=True, **options)
    assert "is not the saved 2-round run continued: they differ from round 1 on" in caplog.text
    assert "Saved with 99 torch threads" in caplog.text
