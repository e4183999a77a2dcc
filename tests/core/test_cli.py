"""The command line: runs, reports, plugin listing, and one-line errors that leave good runs untouched."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from boostlora.cli import main

FAST = ["task=toy", "u=4", "weight_tying=0.0", "targets=[out]", "show_progress=false", "objective_options.steps=20"]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("boostlora: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def good_run(toy_plugin, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = run_cli(capsys, "run", "--plugin", "toy", "--out", str(out), "max_rounds=2", *FAST)
    assert code == 0
    return out


def test_run_writes_the_run_directory(good_run):
    assert {p.name for p in good_run.iterdir()} >= {"config.yaml", "report.json", "checkpoint.pt", "svd.safetensors", "final"}
    report = json.loads((good_run / "report.json").read_text())
    assert len(report["rounds"]) == 2 and report["stop_reason"] == "max_rounds=2 reached"
    assert (good_run / "final" / "model.safetensors").exists()


def test_report_prints_the_table_and_plots(good_run, capsys):
    code, out, _ = run_cli(capsys, "report", str(good_run))
    assert code == 0
    assert "test acc" in out and "validation acc" in out and "stopped: max_rounds=2 reached" in out
    assert out.splitlines()[1].startswith("test: base ")  # the first line after the title says whether it helped
    assert (good_run / "rounds.png").stat().st_size > 1000
    # where the time went: one line per phase, training's seconds summed over the rounds
    rounds = json.loads((good_run / "report.json").read_text())["rounds"]
    train_line = next(line for line in out.splitlines() if line.startswith("train "))
    assert float(train_line.split()[1]) == pytest.approx(sum(r["seconds_by_phase"]["train"] for r in rounds), abs=0.01)
    assert "time and peak memory by phase over 2 round(s)" in out and "eval_heldout" in out and "peak MiB" in out


def test_preset_and_config_file_layer_under_overrides(toy_plugin, tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("plugin: toy\ntask: toy\nmax_rounds: 4\nu: 4\nweight_tying: 0.0\ntargets: [out]\nshow_progress: false\n")
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "run", "--config", str(config), "--out", str(out), "max_rounds=1", "objective_options.steps=5")
    assert code == 0, err
    saved = (out / "config.yaml").read_text()
    assert "max_rounds: 1" in saved and "steps: 5" in saved


@pytest.mark.parametrize(
    "argv,needles",
    [
        (["--plugin", "nope"], ["unknown plugin 'nope'", "toy"]),
        (["--plugin", "toy", "targets=[nothing_here]"], ["'nothing_here' matches nothing"]),
        (["--plugin", "toy", "max_rounds=5"], ["exceeds the rank", "out 8x16", "max_rounds <= 4"]),
        (["--plugin", "toy", "max_rounds=many"], ["max_rounds must be an integer", "'many'"]),
        (["--plugin", "toy", "rounds=3"], ["unknown setting 'rounds'"]),
        (["--plugin", "toy", "--task", "empty"], ["empty training split"]),
        (["--plugin", "toy", "--preset", "nope"], ["no preset 'nope'", "default, long"]),
        (["--plugin", "toy", "objective=adam"], ["unknown objective 'adam'", "cross_entropy"]),
        (["--plugin", "toy", "objective_options.lrr=1"], ["objective 'cross_entropy' has no option(s) lrr"]),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(toy_plugin, tmp_path, capsys, argv, needles):
    out = tmp_path / "run"
    args = ["run", *argv, "--out", str(out)]
    if "--task" not in argv:
        args.append("task=toy")
    code, _, err = run_cli(capsys, *args)
    assert_one_line_error(code, err, *needles)
    assert not out.exists()


def test_a_good_run_directory_is_never_overwritten(good_run, capsys):
    before = {p.name: p.read_bytes() for p in good_run.iterdir() if p.is_file()}
    for argv in (["max_rounds=1"], ["targets=[nothing_here]"]):
        code, _, err = run_cli(capsys, "run", "--plugin", "toy", "task=toy", "--out", str(good_run), *argv)
        assert_one_line_error(code, err, "already holds a run", "--resume")
    assert {p.name: p.read_bytes() for p in good_run.iterdir() if p.is_file()} == before


def test_malformed_and_missing_config_fields(toy_plugin, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("plugin: toy\ntask: toy\nr: [1, 2\n")
    code, _, err = run_cli(capsys, "run", "--config", str(bad), "--out", str(tmp_path / "a"))
    assert_one_line_error(code, err, "not valid YAML")
    bad.write_text("plugin: toy\ntask: toy\nr:\n")
    code, _, err = run_cli(capsys, "run", "--config", str(bad), "--out", str(tmp_path / "b"))
    assert_one_line_error(code, err, "r cannot be empty")
    code, _, err = run_cli(capsys, "run", "--config", str(tmp_path / "missing.yaml"))
    assert_one_line_error(code, err, "does not exist")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_resume_refuses_changed_settings_and_unknown_directories(good_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "run", "--resume", str(good_run), "seed=3")
    assert_one_line_error(code, err, "--resume cannot change seed", "max_rounds")
    code, _, err = run_cli(capsys, "run", "--resume", str(good_run), "--model", "other")
    assert_one_line_error(code, err, "drop --model")
    code, _, err = run_cli(capsys, "run", "--resume", str(tmp_path / "nothing"))
    assert_one_line_error(code, err, "nothing to resume")


def test_plugins_lists_builtin_plugins_and_objectives(toy_plugin, capsys):
    code, out, _ = run_cli(capsys, "plugins")
    assert code == 0
    assert "task toy" in out and "objective cross_entropy" in out
    for builtin in ("math", "code", "protein"):
        assert builtin in out


def test_console_script_reports_unknown_plugin_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "boostlora.cli", "run", "--plugin", "definitely-not-a-plugin"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "unknown plugin 'definitely-not-a-plugin'" in proc.stderr


def test_plugins_verbose_and_list_settings_show_every_option(toy_plugin, capsys):
    code, out, _ = run_cli(capsys, "plugins", "--verbose")
    assert code == 0
    lines = out.splitlines()

    def row(prefix: str) -> str:
        return next(line for line in lines if line.strip().startswith(prefix + " "))

    assert "0.05" in row("objective_options.lr") and "AdamW learning rate" in row("objective_options.lr")
    assert "'grpo'" in row("objective_options.loss_type") and "TRL loss aggregation" in row("objective_options.loss_type")
    assert any("task_options.dataset" in line and "'reasoning_gym:basic_arithmetic'" in line and "gsm8k" in line
               for line in lines)  # a typed task's options, with help
    assert "512" in row("task_options.n_train")  # an untyped task's options are listed with their defaults
    code, out, _ = run_cli(capsys, "run", "--list-settings")
    assert code == 0
    assert out.splitlines()[0].startswith("plugin ") and "task_options.verify_timeout" in out and "objective_options.max_length" in out


def test_report_says_why_it_draws_no_plot(good_run, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    (good_run / "rounds.png").unlink(missing_ok=True)
    code, out, _ = run_cli(capsys, "report", str(good_run))
    assert code == 0
    assert "plot: not drawn, matplotlib is not installed (pip install 'boostlora[bench]')" in out
    assert not (good_run / "rounds.png").exists()


def test_report_into_a_closed_pipe_ends_quietly(good_run):
    """`boostlora report DIR | head -1`: no 'Broken pipe' error once the reader has what it wanted."""
    import subprocess

    done = subprocess.run(f"{sys.executable} -m boostlora report {good_run} --examples 50 | head -1", shell=True,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("toy/toy on toy-net") and "Broken pipe" not in done.stderr and "error" not in done.stderr


def test_report_shows_examples_with_flips_first(good_run, capsys):
    code, out, _ = run_cli(capsys, "report", str(good_run), "--examples", "3")
    assert code == 0
    header = next(line for line in out.splitlines() if line.startswith("held-out examples, base vs the kept model"))
    gained = int(header.split(": ")[1].split(" gained")[0])
    shown = [line for line in out.splitlines() if line.startswith("[")]
    assert len(shown) == 3 and gained >= 1 and " gained: " in shown[0]  # items the kept round gained come first
    assert (good_run / "predictions" / "base-eval.json.gz").exists() and (good_run / "predictions" / "round-0-validation.json.gz").exists()


def test_settings_prints_every_resolved_value_and_the_layer_that_set_it(capsys, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("max_rounds: 3\nobjective_options:\n  steps: 5\n")
    code, out, _ = run_cli(capsys, "settings", "--plugin", "math", "--preset", "bench-cpu", "--config", str(config),
                           "objective_options.lr=2e-3", "seed=4")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert rows["block_scale"].split()[1:] == ["'gain'", "preset", "'bench-cpu'"]  # from the preset
    assert rows["max_rounds"].split()[1:] == ["3", str(config)]  # the config file beats the preset's 4
    assert rows["objective_options.steps"].split()[1:] == ["5", str(config)]
    assert rows["objective_options.lr"].split()[1:] == ["0.002", "the", "command", "line"]  # 2e-3 is a number
    assert rows["seed"].split()[1:] == ["4", "the", "command", "line"]
    assert rows["patience"].split()[1:] == ["None", "default"]
    assert rows["task_options.validation_size"].split()[1:] == ["256", "default"]  # the task's own option default


def test_switching_objective_over_a_preset_drops_the_other_objectives_options(capsys):
    """`--preset default objective=sft`: the preset's grpo options are dropped with a note, sft's defaults apply, and
    the settings pass the checks a run makes before it writes anything."""
    from boostlora.contract.plugins import check_options
    from boostlora.foundation.config import build_config

    code, out, err = run_cli(capsys, "settings", "--plugin", "math", "--preset", "default", "objective=sft",
                             "objective_options.steps=3")
    assert code == 0, err
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if not line.startswith("note:")}
    assert rows["objective_options.steps"].split()[1:] == ["3", "the", "command", "line"]
    assert rows["objective_options.lr"].split()[1:] == ["0.01", "default"]  # sft's own default, not grpo's 1e-3
    assert "objective_options.num_generations" not in rows
    notes = [line for line in out.splitlines() if line.startswith("note:")]
    assert notes == ["note: objective sft from the command line replaces grpo: dropped grpo's objective_options (beta, "
                     "drop_zero_variance, gradient_checkpointing, lr, max_completion_length, num_generations, "
                     "prompts_per_step, steps, temperature, warmup_steps) set by preset 'default'; set sft's with "
                     "objective_options.KEY=VALUE"]
    import argparse

    from boostlora.cli import resolve

    args = argparse.Namespace(plugin="math", task=None, preset="default", config=None, model=None,
                              overrides=["objective=sft"])
    settings, _, _ = resolve(args)
    check_options(build_config(settings))  # what `boostlora run` checks first: no grpo option is left over


def test_a_mapping_replaced_whole_with_the_bang(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "settings", "--plugin", "math", "--preset", "default",
                           "objective_options!={steps: 2}", "task_options!={train_size: 9}")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if not line.startswith("note:")}
    assert rows["objective_options.steps"].split()[1:3] == ["2", "the"]
    assert "objective_options! replaced the mapping" in rows["objective_options.steps"]
    assert rows["objective_options.gradient_checkpointing"].split()[1:] == ["False", "default"]  # the preset's True is gone
    assert rows["task_options.max_new_tokens"].split()[1:] == ["256", "default"]  # the preset's 12 is gone
    assert rows["task_options.train_size"].split()[1] == "9"
    assert "note: objective_options replaced whole by the command line: options set below it were dropped" in out
    config = tmp_path / "run.yaml"  # a --config file says it the same way
    config.write_text("objective_options!:\n  lr: 0.5\n")
    code, out, _ = run_cli(capsys, "settings", "--plugin", "math", "--config", str(config))
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if not line.startswith("note:")}
    assert code == 0 and rows["objective_options.lr"].split()[1] == "0.5"
    assert rows["objective_options.steps"].split()[1:] == ["10", "default"]  # grpo's default, not the preset's 8


@pytest.mark.parametrize(("override", "needle"), [
    ("targets!=[q_proj]", "'targets!' in the command line: only objective_options and task_options can be replaced whole "
                          "with NAME!="),
    ("objective_options!=3", "objective_options! in the command line must be a mapping of options, got 3"),
])
def test_a_bad_replacement_is_one_line(capsys, override, needle):
    code, _, err = run_cli(capsys, "settings", "--plugin", "math", override)
    assert code == 2 and err.strip().splitlines() == [f"boostlora: error: {needle}"]
