"""What the machine does to a run: a second run on the same directory, a full disk, an unwritable --out,
the umask, a real Ctrl-C; and what the user gets: one line, or the traceback when asked for it or when it is a bug."""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path

import pytest
import torch

from boostlora.cli import main
from boostlora.runs.checkpoint import load_checkpoint, write_failure

from .conftest import (
    cli,
    files,
    fill,
    holds_lock,
    mount_tmpfs,
    reap,
    rounds_saved,
    spawn,
    start_args,
    unmount,
    wait_for,
)

TOY_TASK = "tests.toy_plugin.ToyTask"


def test_a_second_run_on_the_same_out_stops_at_once_naming_the_holder(reference, tmp_path):
    out = tmp_path / "run"
    pid = spawn(start_args(out), "saved#2=stall", tmp_path / "logs")  # holds the directory after round 0
    try:
        # the stall follows round 0's save; the base evaluation's save (saved#1) alone would let round 0 still write
        wait_for(lambda: holds_lock(out, pid) and rounds_saved(out) == 1)
        before = files(out)
        started = time.monotonic()
        cli(*start_args(out)).one_line_error(75, f"PID {pid}", "in use by another boostlora run", "another --out")
        cli("run", "--resume", str(out)).one_line_error(75, f"PID {pid}")
        assert time.monotonic() - started < 10
        assert files(out) == before
    finally:
        os.kill(pid, signal.SIGKILL)
        assert reap(pid, tmp_path / "logs").code == -signal.SIGKILL
    assert cli("run", "--resume", str(out)).code == 0  # the dead holder's lock does not block its resume
    reference.assert_reproduced_by(out)


def test_full_disk_mid_run_is_one_line_and_keeps_the_last_checkpoint(reference, small_disk, tmp_path):
    out = (small_disk or tmp_path) / "run"
    cli(*start_args(out), fault="saved#2=interrupt").one_line_error(130, "after 1 merged round(s)")
    before = files(out)
    if small_disk is not None:
        filler = fill(small_disk)
        result = cli("run", "--resume", str(out))
        filler.unlink()
    else:  # no tmpfs here: the first write of the resume fails as a full disk would
        result = cli("run", "--resume", str(out), fault="write:checkpoint.pt#1=enospc")
    result.one_line_error(74, f"could not write {out / 'checkpoint.pt'}", "No space left on device")
    assert files(out) == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert cli("run", "--resume", str(out)).code == 0
    reference.assert_reproduced_by(out)


def test_full_disk_during_the_final_save_keeps_the_checkpoint(reference, small_disk, tmp_path, monkeypatch):
    from tests.toy_plugin import ToyTask

    out = (small_disk or tmp_path) / "run"
    save_model = ToyTask.save_model
    fillers = []

    def save_on_a_full_disk(self, model, path):
        if small_disk is None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        fillers.append(fill(small_disk))
        save_model(self, model, path)

    monkeypatch.setattr(ToyTask, "save_model", save_on_a_full_disk)
    cli(*start_args(out)).one_line_error(74, f"could not write {out / 'final'}", "No space left on device")
    monkeypatch.setattr(ToyTask, "save_model", save_model)
    for filler in fillers:
        filler.unlink()
    assert not (out / "final").exists() and not (out / "final.tmp").exists()
    assert load_checkpoint(out)["report"]["stop_reason"] == "max_rounds=3 reached"
    assert cli("run", "--resume", str(out)).code == 0
    reference.assert_reproduced_by(out)


def test_torch_writer_failure_is_recognised_as_a_storage_failure(small_disk, tmp_path):
    """torch reports a full disk as ``RuntimeError: [enforce fail at inline_container.cc:...] ... file write failed``."""
    if small_disk is not None:
        fill(small_disk)
        target = small_disk / "x.pt"
    else:
        target = Path("/dev/full")  # every write to it fails with ENOSPC
    with pytest.raises(RuntimeError) as raised:
        torch.save(torch.zeros(1 << 16), target)
    assert "inline_container" in str(raised.value) or "PytorchStreamWriter" in str(raised.value)
    failure = write_failure(target, raised.value)
    assert failure is not None and failure.exit_code == 74
    message = str(failure)
    assert message.startswith(f"could not write {target}: ") and "\n" not in message
    if small_disk is not None:
        assert message.endswith("No space left on device")
    assert write_failure(target, RuntimeError("shape mismatch in a bug of ours")) is None


@pytest.fixture
def no_loading(monkeypatch):
    """Fail the test if the task loads its data or model (the output directory must be checked before)."""
    from tests.toy_plugin import ToyTask

    def forbidden(*args, **kwargs):
        raise AssertionError("loaded data or model before checking --out")

    monkeypatch.setattr(ToyTask, "load_splits", forbidden)
    monkeypatch.setattr(ToyTask, "load_model", forbidden)


def test_out_that_is_a_file_is_refused_before_anything_loads(toy_plugin, no_loading, tmp_path):
    out = tmp_path / "a-file"
    out.write_text("not a directory")
    cli(*start_args(out)).one_line_error(74, f"run directory {out} is a file")
    assert out.read_text() == "not a directory"


def test_out_under_proc_is_refused_before_anything_loads(toy_plugin, no_loading):
    out = Path("/proc/boostlora-test/run")
    cli(*start_args(out)).one_line_error(74, f"cannot create run directory {out}")


def test_read_only_out_is_refused_before_anything_loads(toy_plugin, no_loading, tmp_path):
    out = tmp_path / "ro"
    if os.geteuid() == 0:
        if not mount_tmpfs(out, "ro,size=64k"):
            pytest.skip("root ignores permission bits, and no read-only tmpfs can be mounted here")
    else:
        out.mkdir()
        out.chmod(0o555)
    try:
        cli(*start_args(out)).one_line_error(74, f"run directory {out} is not writable")
        cli(*start_args(out / "sub")).one_line_error(74, f"cannot create run directory {out / 'sub'}")
    finally:
        unmount(out) if os.geteuid() == 0 else out.chmod(0o755)


@pytest.mark.parametrize("umask,mode", [(0o002, 0o664), (0o077, 0o600)])
def test_run_files_follow_the_umask(toy_plugin, tmp_path, umask, mode):
    out = tmp_path / "run"
    previous = os.umask(umask)
    try:
        assert cli(*start_args(out, "max_rounds=1")).code == 0
    finally:
        os.umask(previous)
    for name in ("checkpoint.pt", "report.json", "config.yaml", "svd.safetensors", ".lock"):
        assert (out / name).stat().st_mode & 0o777 == mode, name


def test_debug_prints_the_traceback_before_the_same_line(damaged, monkeypatch):
    (damaged / "checkpoint.pt").write_bytes(b"")
    plain = cli("run", "--resume", str(damaged)).one_line_error(74, "is empty")
    for argv in (["--debug", "run", "--resume", str(damaged)], ["run", "--resume", str(damaged), "--debug"]):
        result = cli(*argv)
        assert result.code == 74 and "Traceback" in result.err
        assert result.err.strip().splitlines()[-1] == plain
    monkeypatch.setenv("BOOSTLORA_DEBUG", "1")
    result = cli("run", "--resume", str(damaged))
    assert result.code == 74 and "Traceback" in result.err


def test_a_bug_keeps_its_traceback(toy_plugin, tmp_path, monkeypatch):
    from tests.toy_plugin import ToyTask

    monkeypatch.setattr(ToyTask, "predict", lambda self, model, examples: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        main(start_args(tmp_path / "run"))
    assert not (tmp_path / "run").exists()  # the failed start removed what it wrote


CSV_HEADER = "sequence,label\n"


@pytest.mark.parametrize(
    "train,needle",
    [("MKVLA,1\n", "1 example(s), all of class 1"), ("MKVLA,0\nMKVLG,0\nMKVLW,0\n", "3 example(s), all of class 0")],
    ids=["one example", "one class"],
)
def test_degenerate_training_split_is_refused_before_the_model_loads(tmp_path, monkeypatch, train, needle):
    from boostlora_plugins.protein.task import ProteinTask

    monkeypatch.setattr(ProteinTask, "load_model", lambda *a: (_ for _ in ()).throw(AssertionError("model loaded")))
    (tmp_path / "train.csv").write_text(CSV_HEADER + train)
    (tmp_path / "eval.csv").write_text(CSV_HEADER + "MKVLA,1\nMKVLG,0\n")
    out = tmp_path / "run"
    cli("run", "--plugin", "protein", "--out", str(out), f"task_options.data={tmp_path / 'train.csv'}",
        f"task_options.eval_data={tmp_path / 'eval.csv'}").one_line_error(2, "training split has", needle)
    assert not out.exists()


def test_a_real_sigint_during_start_up_exits_130(toy_plugin, tmp_path):
    """SIGINT from outside, as a terminal sends it, while the run holds its fresh directory."""
    out = tmp_path / "run"
    pid = spawn(start_args(out), "claimed=stall", tmp_path / "logs")
    try:
        wait_for(lambda: holds_lock(out, pid))
        os.kill(pid, signal.SIGINT)
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        raise
    finally:
        result = reap(pid, tmp_path / "logs")
    result.one_line_error(130, "interrupted during start-up", "nothing to resume", "run the same command again")
    assert not out.exists()
