"""SIGTERM and SIGHUP stop a run as Ctrl-C does: the same cleanup, the same one line with the resume command, and
their own exit status (128 + the signal). Also: the resume command quotes its path, ``report`` on a read-only run
directory, FASTA encodings."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
from pathlib import Path

import pytest

from boostlora.foundation.errors import EXIT_HANGUP, EXIT_TERMINATED
from boostlora.runs.checkpoint import load_checkpoint

from .conftest import (
    cli,
    files,
    holds_lock,
    mount_tmpfs,
    reap,
    rounds_saved,
    spawn,
    start_args,
    unmount,
    wait_for,
)

SIGNALS = [(signal.SIGTERM, EXIT_TERMINATED), (signal.SIGHUP, EXIT_HANGUP)]
IDS = [s.name for s, _ in SIGNALS]


def signal_at(out: Path, fault: str, ready, signum: int, logs: Path):
    """Start a run that stalls at ``fault``, send it ``signum`` once ``ready(pid)``; its result."""
    pid = spawn(start_args(out), fault, logs)
    try:
        wait_for(lambda: ready(pid))
        os.kill(pid, signum)
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        raise
    finally:
        result = reap(pid, logs)
    return result


@pytest.mark.parametrize("signum,code", SIGNALS, ids=IDS)
@pytest.mark.parametrize("fault,leftover", [("claimed=stall", None), ("svd-saved=stall", "svd.safetensors")])
def test_a_signal_during_start_up_leaves_nothing_and_says_so(reference, tmp_path, signum, code, fault, leftover):
    out = tmp_path / "run"
    result = signal_at(out, fault, lambda pid: holds_lock(out, pid) and (leftover is None or (out / leftover).exists()),
                       signum, tmp_path / "logs")
    result.one_line_error(code, f"interrupted by {signum.name} during start-up", "nothing to resume",
                          "run the same command again")
    assert not out.exists()  # no .lock, no svd.safetensors: the directory this start created is gone
    assert cli(*start_args(out)).code == 0  # "the same command again" simply works
    reference.assert_reproduced_by(out)


@pytest.mark.parametrize("signum,code", SIGNALS, ids=IDS)
def test_a_signal_mid_run_gives_the_resume_command_and_resumes_bit_identically(reference, tmp_path, signum, code):
    out = tmp_path / "run"
    result = signal_at(out, "saved#2=stall", lambda pid: holds_lock(out, pid) and rounds_saved(out) == 1,
                       signum, tmp_path / "logs")
    result.one_line_error(code, f"interrupted by {signum.name} after 1 merged round(s)",
                          f"resume with: boostlora run --resume {out}")
    assert len(load_checkpoint(out)["report"]["rounds"]) == 1
    assert cli("run", "--resume", str(out)).code == 0
    reference.assert_reproduced_by(out)


def test_the_signal_handlers_are_put_back_after_the_command(toy_plugin, tmp_path):
    before = {s: signal.getsignal(s) for s, _ in SIGNALS}
    assert cli(*start_args(tmp_path / "run", "max_rounds=1")).code == 0
    assert {s: signal.getsignal(s) for s, _ in SIGNALS} == before


def test_the_resume_command_quotes_a_path_with_spaces(reference, tmp_path):
    out = tmp_path / "my runs" / "it's run 1"
    line = cli(*start_args(out), fault="saved#2=interrupt").one_line_error(130, "interrupted after 1 merged round(s)")
    command = line.split("resume with: ", 1)[1]
    assert command == f"boostlora run --resume {shlex.quote(str(out))}"
    argv = shlex.split(command)  # what a shell makes of it, pasted as printed
    assert argv[:3] == ["boostlora", "run", "--resume"] and argv[3] == str(out)
    assert cli(*argv[1:]).code == 0
    reference.assert_reproduced_by(out)


def test_report_on_a_read_only_run_directory_prints_the_table(reference, tmp_path):
    disk = tmp_path / "disk"
    if os.geteuid() == 0:
        if not mount_tmpfs(disk, "size=8m"):
            pytest.skip("root ignores permission bits, and no tmpfs can be mounted here")
    else:
        disk.mkdir()
    out = disk / "run"
    try:
        shutil.copytree(reference.path, out)
        (out / "rounds.png").unlink(missing_ok=True)
        before = files(out)
        if os.geteuid() == 0:
            import subprocess

            subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True, capture_output=True)
        else:
            out.chmod(0o555)
        result = cli("report", str(out))
        assert result.code == 0, result.err
        assert "test acc" in result.out and "stopped: max_rounds=3 reached" in result.out
        lines = [line for line in result.err.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in result.err, result.err
        assert lines[0].startswith("boostlora: warning: plot not written: ") and "rounds.png" in lines[0], lines[0]
        assert files(out) == before and not (out / "rounds.png").exists()
    finally:
        unmount(disk) if os.geteuid() == 0 else out.chmod(0o755)


FASTA = ">P1 label=1\nMKVLAAGIVG\n>P2 label=0\nMKTWQEELLK\n"


def test_a_fasta_file_with_a_utf8_bom_is_read(tmp_path):
    from boostlora_plugins.protein.sources import read_rows

    plain, bom = tmp_path / "plain.fasta", tmp_path / "bom.fasta"
    plain.write_text(FASTA)
    bom.write_bytes(b"\xef\xbb\xbf" + FASTA.encode())
    assert read_rows(str(bom)) == read_rows(str(plain))
    assert [fields["id"] for _, fields in read_rows(str(bom))] == ["P1", "P2"]


def test_a_latin1_fasta_file_is_one_line_naming_the_encoding(tmp_path, monkeypatch):
    from boostlora_plugins.protein.task import ProteinTask

    monkeypatch.setattr(ProteinTask, "load_model", lambda *a: (_ for _ in ()).throw(AssertionError("model loaded")))
    data = tmp_path / "train.fasta"
    data.write_bytes(FASTA.replace("label=0", "label=0 origin=caf\xe9").encode("latin-1"))
    out = tmp_path / "run"
    cli("run", "--plugin", "protein", "--out", str(out), f"task_options.data={data}").one_line_error(
        2, f"{data} is not UTF-8 text", "byte 0xe9 on line 3", "Latin-1", "save it as UTF-8")
    assert not out.exists()
