"""Every setting is checked before anything is written, and a config file cannot hang or exhaust the machine.

Each bad input is one line (exit 2), never a traceback, and leaves nothing behind: no new run directory, and an
existing run given ``--overwrite`` (which replaces boostlora's files at claim time) keeps every byte.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest
import yaml

from boostlora.foundation.config import (
    MAX_CONFIG_BYTES,
    MAX_DEPTH,
    MAX_VALUES,
    parse_override,
)

from .conftest import cli, files, start_args

# (override, what the one line says); every one of these was a traceback, a crash after the base checkpoint, or
# silently accepted before it was checked up front
BAD_SETTINGS = [
    ("objective_options.lr=.inf", "objective_options.lr must be a finite number, got inf"),
    ("objective_options.lr=.nan", "objective_options.lr must be a finite number, got nan"),
    ("replay_fraction=.nan", "replay_fraction must be a finite number, got nan"),
    ("replay_fraction=-.inf", "replay_fraction must be a finite number, got -inf"),
    ("step_sizes=[0, .inf]", "step_sizes must hold finite numbers, got [0, inf]"),
    ("step_sizes=[.nan]", "step_sizes must hold finite numbers"),
    ("objective_options.max_grad_norm=.nan", "objective_options.max_grad_norm must be a finite number, got nan"),
    ("objective_options.weight_decay=.inf", "objective_options.weight_decay must be a finite number, got inf"),
    ("merge_tolerance=.nan", "merge_tolerance must be a finite number"),
    ("seed=-1", "seed must be between 0 and 4294967295, got -1"),
    ("seed=4294967296", "seed must be between 0 and 4294967295, got 4294967296"),
    ("device=mps", "device 'mps' asked for, but this machine has no MPS device"),
    ("device=meta", "device 'meta' cannot run a model here"),
    ("device=cuda:99", "device 'cuda:99' asked for"),
    ("device=[cpu]", "device must be a string, got ['cpu']"),
    ("plugin=[protein]", "plugin must be a string, got ['protein']"),
    ("task=[toy]", "task must be a string, got ['toy']"),
    ("objective=[sft]", "objective must be a string, got ['sft']"),
    ("task_options={[1]: 2}", "not valid YAML"),
    ("task_options={1: 2}", "task_options names must be text, got 1"),
    ("objective_options.warmup_steps=-1", "objective_options.warmup_steps must be at least 0, got -1"),
    ("objective_options.max_grad_norm=-1", "objective_options.max_grad_norm must be at least 0, got -1.0"),
    ("objective_options.weight_decay=-0.1", "objective_options.weight_decay must be at least 0, got -0.1"),
    ("objective_options.lr=0", "objective_options.lr must be greater than 0, got 0.0"),
    ("merge_tolerance=-1", "merge_tolerance must be greater than 0, got -1.0"),
    ("validation_fraction=1", "validation_fraction must be between 0 and 1 (exclusive), got 1.0"),
    ("threads=99999999999999999999", "threads must be between 1 and 4096"),
]


@pytest.mark.parametrize("override,needle", BAD_SETTINGS, ids=[o for o, _ in BAD_SETTINGS])
def test_a_bad_setting_is_one_line_before_anything_is_written(toy_plugin, damaged, tmp_path, override, needle):
    out = tmp_path / "fresh"
    cli(*start_args(out, override)).one_line_error(2, needle)
    assert not out.exists()
    # --overwrite replaces a run's files when it claims the directory: a bad setting must stop before that
    before = files(damaged)
    cli(*start_args(damaged, override), "--overwrite").one_line_error(2, needle)
    assert files(damaged) == before


@pytest.mark.parametrize(
    "option,needle",
    [("task_options.head_strength=.inf", "task_options.head_strength must be a finite number, got inf"),
     ("task_options.head_strength=0", "task_options.head_strength must be greater than 0, got 0.0"),
     ("task_options.eval_fraction=.nan", "task_options.eval_fraction must be a finite number, got nan"),
     # a length ESM2 cannot take: refused before a long sequence would allocate its attention at that size
     ("task_options.max_length=100000", "task_options.max_length must be between 1 and 1022, got 100000")],
)
def test_a_bad_protein_option_is_one_line_before_anything_loads(tmp_path, monkeypatch, option, needle):
    from boostlora_plugins.protein.task import ProteinTask

    monkeypatch.setattr(ProteinTask, "load_splits", lambda *a: (_ for _ in ()).throw(AssertionError("data loaded")))
    out = tmp_path / "run"
    cli("run", "--plugin", "protein", "--out", str(out), option).one_line_error(2, needle)
    assert not out.exists()


def test_the_highest_seed_every_library_accepts_runs(toy_plugin, tmp_path):
    result = cli(*start_args(tmp_path / "run", "seed=4294967295", "max_rounds=1"))
    assert result.code == 0, result.err


def test_a_bad_value_is_shown_only_as_a_short_prefix(toy_plugin, tmp_path):
    line = cli(*start_args(tmp_path / "run", "objective_options.lr=" + "x" * 10_000)).one_line_error(
        2, "objective_options.lr must be a number, got 'xxx")
    assert len(line) < 200 and "x" * 100 not in line


@pytest.mark.parametrize("edit,needle", [
    ("merge_tolerance: -1.0", "merge_tolerance must be greater than 0, got -1.0"),
    ("merge_tolerance: .nan", "merge_tolerance must be a finite number"),
])
def test_a_resume_with_a_bad_edit_keeps_every_file(damaged, edit, needle):
    config = damaged / "config.yaml"
    config.write_text(config.read_text().replace("merge_tolerance: 0.0001", edit))
    before = files(damaged)
    cli("run", "--resume", str(damaged)).one_line_error(2, needle)
    assert files(damaged) == before


def test_a_resume_may_not_set_an_impossible_value_either(damaged):
    before = files(damaged)
    cli("run", "--resume", str(damaged), "merge_tolerance=-1").one_line_error(2, "merge_tolerance must be greater than 0")
    assert files(damaged) == before


# ---- numbers parse as numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("raw,value", [
    ("2e-3", 0.002), ("1e-3", 0.001), ("1E5", 100000.0), ("1.5e3", 1500.0), ("-2.5e-1", -0.25), (".5e1", 5.0),
    ("1.0e-3", 0.001), ("10", 10), ("1_000", 1000), ("0.5", 0.5), ("'2e-3'", "2e-3"), ("1e", "1e"), ("e3", "e3"),
])
def test_numbers_in_overrides_parse_as_yaml_1_2_reads_them(raw, value):
    assert parse_override(f"objective_options.lr={raw}") == ("objective_options.lr", value)
    parsed = parse_override(f"x={raw}")[1]
    assert type(parsed) is type(value)


def test_the_readmes_own_example_runs(toy_plugin, tmp_path):
    out = tmp_path / "run"
    result = cli(*start_args(out, "objective_options.lr=2e-3", "max_rounds=1"))
    assert result.code == 0, result.err
    assert yaml.safe_load((out / "config.yaml").read_text())["objective_options"]["lr"] == 0.002


def test_a_config_file_reads_exponent_numbers(toy_plugin, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("objective_options:\n  lr: 1e-3\nreplay_fraction: 5e-1\n")
    out = tmp_path / "run"
    result = cli(*start_args(out, "max_rounds=1"), "--config", str(config))
    assert result.code == 0, result.err
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["objective_options"]["lr"] == 0.001 and saved["replay_fraction"] == 0.5


# ---- config files: duplicate keys, aliases, size, depth, not a file --------------------------------------------


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail instead of hanging (a FIFO) or running for minutes (an alias bomb)."""
    def expired(signum, frame):
        raise AssertionError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))

BAD_FILES = {
    "duplicate key": ("max_rounds: 1\nmax_rounds: 2\n", ["holds the key 'max_rounds' twice", "line 2"]),
    "duplicate option": ("objective_options:\n  lr: 0.1\n  lr: 0.2\n", ["holds the key 'lr' twice", "line 3"]),
    "alias bomb": (ALIAS_BOMB, ["uses a YAML alias", "line 2", "write the value out"]),
    "merge alias": ("base: &b {lr: 0.1}\nobjective_options:\n  <<: *b\n", ["uses a YAML alias"]),
    "too large": ("stop: [" + ",".join(["1"] * (MAX_CONFIG_BYTES // 2 + 10)) + "]\n",
                  [f"more than a settings file holds (at most {MAX_CONFIG_BYTES})"]),
    "too many values": ("task_options:\n  l: [" + ",".join(["1"] * (2 * MAX_VALUES)) + "]\n",
                        [f"holds more than {MAX_VALUES} values"]),
    "too deep": ("a: " + "[" * 10_000 + "]" * 10_000 + "\n", [f"nested deeper than {MAX_DEPTH} levels"]),
    "not a setting name": ("1: 2\n", ["setting names in", "must be text, got 1"]),
    "latin-1": (b"task: caf\xe9\n", ["is not text (byte 9 is not UTF-8)"]),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_config_file_is_one_line_within_seconds(toy_plugin, tmp_path, name):
    content, needles = BAD_FILES[name]
    config = tmp_path / "run.yaml"
    config.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "run"
    started = time.monotonic()
    with deadline(30):
        result = cli(*start_args(out), "--config", str(config))
    assert time.monotonic() - started < 10
    result.one_line_error(2, f"config file {config}" if name != "not a setting name" else str(config), *needles)
    assert not out.exists()


def test_a_utf8_bom_in_a_config_file_is_read(toy_plugin, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_bytes(b"\xef\xbb\xbfmax_rounds: 1\n")
    result = cli(*start_args(tmp_path / "run"), "--config", str(config), "max_rounds=1")
    assert result.code == 0, result.err


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_a_config_that_is_not_a_regular_file_is_refused_without_reading_it(toy_plugin, tmp_path, kind):
    if kind == "fifo":
        config = tmp_path / "pipe"
        os.mkfifo(config)  # nobody writes: reading it would block forever
        needle = "is a pipe"
    elif kind == "directory":
        config, needle = tmp_path, "is a directory"
    else:
        config, needle = Path("/dev/zero"), "is not a regular file"  # endless
    out = tmp_path / "run"
    with deadline(30):
        cli(*start_args(out), "--config", str(config)).one_line_error(2, f"config file {config} {needle}")
    assert not out.exists()


@pytest.mark.parametrize("override,needle", [
    ("task_options={a: 1, a: 2}", "holds the key 'a' twice"),
    ("step_sizes=[&a [1], *a]", "uses a YAML alias"),
    ("step_sizes=" + "[" * 100 + "]" * 100, f"nested deeper than {MAX_DEPTH} levels"),
])
def test_overrides_are_held_to_the_same_rules(toy_plugin, tmp_path, override, needle):
    out = tmp_path / "run"
    cli(*start_args(out, override)).one_line_error(2, needle)
    assert not out.exists()
