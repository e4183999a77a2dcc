"""Kill or interrupt a run at every named point; what is left resumes (or restarts) to the same bits."""

from __future__ import annotations

import signal

import pytest

from boostlora.runs.checkpoint import load_checkpoint

from .conftest import cli, files, run_forked, start_args

# (fault, rounds in the checkpoint a kill leaves behind; None: no checkpoint yet, the start is re-run)
KILL_POINTS = [
    ("claimed=kill", None),  # the directory is locked, nothing loaded
    ("svd-saved=kill", None),  # the SVD cache is written, no checkpoint
    ("write:checkpoint.pt#1=kill", None),  # the base checkpoint's temporary file is complete, not renamed
    ("save#2=kill", 0),  # round 0 merged, not checkpointed
    ("write:checkpoint.pt#3=kill", 1),  # round 1's checkpoint half-way: the temporary is left behind
    ("write:report.json#3=kill", 2),  # checkpoint written, report.json lags one round behind it
    ("final=kill", 3),  # final/ staged, not renamed into place
]


@pytest.mark.parametrize("fault,rounds", KILL_POINTS, ids=[f for f, _ in KILL_POINTS])
def test_sigkill_then_resume_is_bit_identical(reference, tmp_path, fault, rounds):
    out = tmp_path / "run"
    killed = run_forked(start_args(out), fault, tmp_path / "logs")
    assert killed.code == -signal.SIGKILL, killed.err
    if rounds is None:
        assert not (out / "checkpoint.pt").exists()
        again = cli(*start_args(out))  # a start that died is simply started again: the dead lock does not block
    else:
        state = load_checkpoint(out)  # the last good checkpoint is whole and checks out
        assert len(state["report"]["rounds"]) == rounds
        again = cli("run", "--resume", str(out))
    assert again.code == 0, again.err
    reference.assert_reproduced_by(out)


def test_ctrl_c_mid_run_exits_130_with_the_resume_command(reference, tmp_path):
    out = tmp_path / "run"
    result = cli(*start_args(out), fault="save#3=interrupt")
    result.one_line_error(130, "interrupted after 1 merged round(s)", f"resume with: boostlora run --resume {out}")
    kept = files(out)
    assert len(load_checkpoint(out)["report"]["rounds"]) == 1  # round 1 was merged, not saved: it is redone
    assert cli("run", "--resume", str(out)).code == 0
    assert kept["config.yaml"] == (out / "config.yaml").read_bytes()
    reference.assert_reproduced_by(out)


def test_ctrl_c_during_start_up_leaves_nothing_and_says_so(toy_plugin, tmp_path):
    out = tmp_path / "run"
    result = cli(*start_args(out), fault="svd-saved=interrupt")
    result.one_line_error(130, "before the first checkpoint", "nothing to resume", "run the same command again")
    assert not out.exists()  # the directory this start created is gone, SVD cache and lock with it


def test_ctrl_c_during_the_final_save_resumes_to_the_final_model(reference, tmp_path):
    out = tmp_path / "run"
    result = cli(*start_args(out), fault="final=interrupt")
    result.one_line_error(130, "interrupted after 3 merged round(s)", "resume with")
    assert not (out / "final").exists() and not (out / "final.tmp").exists()
    assert len(load_checkpoint(out)["report"]["rounds"]) == 3 and load_checkpoint(out)["report"]["stop_reason"]
    assert cli("run", "--resume", str(out)).code == 0
    reference.assert_reproduced_by(out)


def test_ctrl_c_during_a_resumes_start_up_keeps_the_checkpoint(damaged):
    before = files(damaged)
    result = cli("run", "--resume", str(damaged), fault="claimed=interrupt")
    result.one_line_error(130, f"resume with: boostlora run --resume {damaged}")
    assert files(damaged) == before


def test_resume_of_a_start_that_never_finished_says_to_start_again(toy_plugin, tmp_path):
    out = tmp_path / "run"
    killed = run_forked(start_args(out), "save#1=kill", tmp_path / "logs")  # config and SVD written, no checkpoint
    assert killed.code == -signal.SIGKILL and (out / "config.yaml").exists()
    cli("run", "--resume", str(out)).one_line_error(2, "no checkpoint.pt", "nothing to resume", "again")
