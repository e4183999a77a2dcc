"""The speed suite's plumbing: scripts found, their JSON turned into ratios, failures reported by name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from boostlora.bench import speed
from boostlora.foundation.errors import ConfigError

NUMBERS = {
    "speed_core.py": {
        "svd": {"components": 16, "modules": 210, "full_s": 30.0, "truncated_s": 4.0},
        "round": {"attach_s": 0.3, "train_s": 100.0, "train_steps": 3, "merge_s": 2.0},
        "latency": {"base_ms": 400.0, "merged_ms": 396.0, "peft_unmerged_ms": 600.0,
                    "merged_over_base": 0.99, "peft_unmerged_over_base": 1.5},
    },
    "math_eval_throughput.py": {"n": 32, "identical_outputs": 32, "speedup": 7.5,
                                "batched": {"tokens_per_s": 15.0}, "one_at_a_time": {"tokens_per_s": 2.0}},
    "code_sandbox.py": {"programs": 164, "overhead_s_per_program": {"bare_subprocess": 0.015, "bwrap": 0.030},
                        "single_process_s_per_program": {"bwrap": 0.025},
                        "throughput_programs_per_s": {"bwrap_workers_1": 33.3, "bwrap_workers_2": 55.8}},
    "grpo_overhead.py": {"config": {"steps": 3, "prompts": 4, "generations": 4, "completion": 12},
                         "bare_trl": {"per_step_s": 10.0, "setup_s": 30.0},
                         "boostlora": {"per_step_s": 10.3, "setup_s": 1.5,
                                       "parts": {"setup": 1.0, "generation": 18.0, "reward": 0.001, "loss_backward": 12.0}},
                         "per_step_ratio": 1.03},
}
ENV = {"command": "boostlora bench --suite speed", "date": "today", "machine": "test", "versions": {"torch": "x"}}


def test_every_script_exists_and_takes_a_json_flag():
    folder = speed.scripts_dir()
    for m in speed.MEASUREMENTS:
        text = (folder / m.script).read_text()
        assert '"--json"' in text, m.script
        for flag in m.args[::2]:
            assert f'"{flag}"' in text, (m.script, flag)


def test_numbers_become_ratios():
    table = speed.speed_markdown(NUMBERS, ENV, {m.script: m for m in speed.MEASUREMENTS})
    assert "| 4.00 s vs 30.00 s | 7.5x faster |" in table
    assert "2.0% of training" in table and "0.99x base" in table and "1.50x base" in table
    assert "| 7.5x faster |" in table and "32/32 identical" in table
    assert "| 30.0 ms vs 15.0 ms per program | +15.0 ms |" in table and "55.8 programs/s" in table
    assert "judge + candidate processes vs the single-process runner | 30.0 ms vs 25.0 ms per program | +5.0 ms |" in table
    assert "| 10.30 s vs 10.00 s | 1.030x (+3.0%) |" in table and "| 1.50 s vs 30.00 s | 0.05x |" in table
    assert "generation 60%, loss_backward 40% |" in table  # parts under half a percent are left out
    assert table.count("`benchmarks/") == 5 + 1 + 2 + 2 + 3  # one row per number, each naming its script


def test_a_failing_script_is_named(tmp_path, monkeypatch):
    failing = speed.Measurement("speed_core.py", ("--no-such-flag", "1"), lambda n: [])
    monkeypatch.setattr(speed, "MEASUREMENTS", (failing,))
    with pytest.raises(ConfigError, match=r"benchmarks/speed_core.py failed \(exit 2\)"):
        speed.run_speed_suite(tmp_path)
    with pytest.raises(ConfigError, match="no speed measurement matches"):
        speed.run_speed_suite(tmp_path, only=["nothing"])


def test_speed_suite_outside_a_checkout_says_where_to_run_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(speed, "__file__", str(tmp_path / "boostlora" / "bench" / "speed.py"))
    with pytest.raises(ConfigError, match="run it from the repository root"):
        speed.scripts_dir()


def test_speed_suite_has_no_methods():
    done = subprocess.run([sys.executable, "-m", "boostlora", "bench", "--suite", "speed", "--methods", "full-ft"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "the speed suite has no methods" in done.stderr


def test_a_hand_written_block_survives_regeneration(tmp_path, monkeypatch):
    """SPEED.md can carry measurements no script makes (the default job's wall time) above the generated table."""
    (tmp_path / "fake.py").write_text(
        "import json, sys\njson.dump({'seconds': 2.5}, open(sys.argv[sys.argv.index('--json') + 1], 'w'))\n")
    fake = speed.Measurement("fake.py", (), lambda n: [("fake step", f"{n['seconds']} s", "1.0x")])
    monkeypatch.setattr(speed, "MEASUREMENTS", (fake,))
    monkeypatch.setattr(speed, "scripts_dir", lambda: tmp_path)
    results = tmp_path / "SPEED.md"
    hand = "<!-- written by hand: kept when the tables are regenerated -->\nthe default job took 11 min\n<!-- end of hand-written text -->\n"
    results.write_text(hand + "# an old table\n")
    speed.run_speed_suite(tmp_path / "out", results_file=results)
    text = results.read_text()
    assert text.startswith(hand) and "an old table" not in text and "| fake step | 2.5 s | 1.0x |" in text
