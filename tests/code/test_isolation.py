"""Choosing the isolation: probed once, logged once, refused clearly, and workers capped at the cores."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from boostlora import ConfigError
from boostlora_plugins.code import isolation as iso
from boostlora_plugins.code.checker import Checker, available_cores


def test_unknown_level_is_refused():
    with pytest.raises(ConfigError, match="unknown sandbox isolation 'docker'"):
        iso.select("docker")


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_bubblewrap_is_preferred_and_hides_home(isolation):
    assert isolation.name == "bwrap" and isolation.pid_namespace
    assert os.path.realpath(os.path.expanduser("~")) in isolation.hidden or "/root" in isolation.hidden
    assert any(p.endswith(("site-packages", "dist-packages")) for p in isolation.hidden)


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_the_checkout_is_not_visible_inside_the_sandbox(isolation):
    """Wherever the checkout lives (a hidden root such as /work or /home, or /tmp, which the sandbox replaces
    with its own empty tmpfs), the program cannot see this file or the package source beside it."""
    from boostlora_plugins.code.sandbox import Job, run_job

    from .conftest import TIGHT

    here = str(Path(__file__).resolve())
    source = str(Path(iso.__file__).resolve())
    program = f"import os\nprint(os.path.exists({here!r}), os.path.exists({source!r}))\ndef f(x):\n    return x\n"
    result = run_job(Job(program, ("assert f(1) == 1",)), TIGHT, isolation)
    assert result.ok and result.stdout.split() == ["False", "False"], (result.status, result.stdout, result.detail)


def test_isolation_is_logged_once(caplog, isolation):
    level = "auto" if isolation.name == "bwrap" else isolation.name  # the strongest level this machine has
    iso.select.cache_clear()
    with caplog.at_level(logging.INFO, logger="boostlora_plugins.code"):
        first = iso.select(level)
        assert iso.select(level) is first
    messages = [r.getMessage() for r in caplog.records if "isolation" in r.getMessage()]
    assert len(messages) == 1 and first.description in messages[0]


def test_missing_binaries_give_one_clear_error(monkeypatch):
    iso.select.cache_clear()
    monkeypatch.setattr(iso.shutil, "which", lambda name: None)
    try:
        with pytest.raises(ConfigError, match="no working sandbox.*bwrap: bwrap is not installed.*install bubblewrap"):
            iso.select("auto")
    finally:
        iso.select.cache_clear()


def test_workers_are_capped_at_the_cores(isolation):
    assert Checker(isolation=isolation, workers=10_000).workers == available_cores()
    assert Checker(isolation=isolation, workers=1).workers == 1
    with pytest.raises(ConfigError, match="at least 1"):
        Checker(isolation=isolation, workers=0)


def test_memory_bound_is_logged_once_and_adds_up(isolation, caplog):
    from boostlora_plugins.code import memory
    from boostlora_plugins.code.limits import Limits

    limits = Limits(memory_bytes=256 << 20, file_size_bytes=2 << 20, open_files=16, workdir_bytes=8 << 20, processes=5)
    assert limits.memory_bound() == 5 * ((256 << 20) + 16 * (2 << 20)) + 2 * (8 << 20)  # rlimits are per process
    memory.log_once.cache_clear()
    with caplog.at_level(logging.INFO, logger="boostlora_plugins.code"):
        checker = Checker(limits, isolation)
        Checker(limits, isolation)
    lines = [r.getMessage() for r in caplog.records if "memory bound" in r.getMessage()]
    assert len(lines) == 1 and "cgroup" in lines[0]
    # the line names the mechanism in force; the task records it beside the isolation
    assert f"memory bound: {checker.memory_mechanism}, at most " in lines[0]
    if checker.memory_mechanism != "rlimits":
        assert f"at most {limits.memory_bytes >> 20} MiB per program, all its processes together" in lines[0]
    elif isolation.name == "bwrap":
        assert f"at most {limits.memory_bound() >> 20} MiB per program = RLIMIT_NPROC 5 processes x" in lines[0]


def _bubblewrap_broken(monkeypatch):
    """bwrap present but refused by the kernel (a container without user namespaces); the fallback still works."""
    real = iso._works
    monkeypatch.setattr(iso, "_works", lambda isolation: (False, "bwrap: setting up uid map: Permission denied\n")
                        if isolation.name == "bwrap" else real(isolation))
    iso.select.cache_clear()


def test_auto_means_bubblewrap_and_never_falls_back_silently(monkeypatch):
    _bubblewrap_broken(monkeypatch)
    try:
        with pytest.raises(ConfigError) as info:
            iso.select("auto")
        message = str(info.value)
        assert "\n" not in message and "Permission denied" in message and "apt-get install bubblewrap" in message
        assert "sandbox_isolation=unshare" in message and "sandbox_isolation=rlimits" in message
        assert iso.select("rlimits").name == "rlimits"  # a weaker level only when named
    finally:
        iso.select.cache_clear()


def test_a_run_without_usable_bubblewrap_stops_before_the_model_loads(monkeypatch, tmp_path, capsys):
    from boostlora.cli import main
    from boostlora_plugins.code.task import CodeTask

    _bubblewrap_broken(monkeypatch)
    monkeypatch.setenv("BOOSTLORA_ALLOW_CODE_EXEC", "1")
    loaded = []
    monkeypatch.setattr(CodeTask, "load_model", lambda self, *a: loaded.append(a))
    out = tmp_path / "run"
    try:
        code = main(["run", "--plugin", "code", "--out", str(out), "task_options.allow_code_execution=true"])
    finally:
        iso.select.cache_clear()
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "apt-get install bubblewrap" in lines[0], lines
    assert "Permission denied" in lines[0] and not loaded and not out.exists()


def test_the_isolation_in_force_is_in_the_metrics(isolation, monkeypatch):
    from boostlora_plugins.code.task import CodeTask

    monkeypatch.setenv("BOOSTLORA_ALLOW_CODE_EXEC", "1")
    task = CodeTask({"allow_code_execution": True, "sandbox_isolation": isolation.name})
    assert task.metrics([], [], [])["sandbox_isolation"] == isolation.name
    from boostlora_plugins.code import cgroup, memory

    assert task.metrics([], [], [])["sandbox_memory"] == memory.mechanism(cgroup.probe()) in ("cgroup v1", "cgroup v2", "rlimits")
    if isolation.name == "bwrap":
        assert CodeTask({"allow_code_execution": True}).metrics([], [], [])["sandbox_isolation"] == "bwrap"
