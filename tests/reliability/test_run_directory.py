"""What a run may do to its --out: never delete or overwrite what it did not write, one writer even under a race,
no lock written through a link, and no writing into a directory that replaced the one it claimed."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

from boostlora.runs import persistence, rundir

from .conftest import cli, files, holds_lock, reap, spawn, start_args, wait_for

MARKER = ".boostlora-run"


def tree(directory: Path) -> dict[str, bytes | None]:
    """Every entry under ``directory`` (folders as None), by relative path."""
    return {str(p.relative_to(directory)): (p.read_bytes() if p.is_file() else None) for p in sorted(directory.rglob("*"))}


# ---- A: a fresh start never deletes or overwrites anything it did not create --------------------------------------


def test_the_issue_reproduction_keeps_the_users_final_folder(tmp_path):
    """``mkdir -p p/final && echo work > p/final/notes.tex && boostlora run --plugin protein --out p``"""
    out = tmp_path / "p"
    (out / "final").mkdir(parents=True)
    (out / "final" / "notes.tex").write_text("work\n")
    result = cli("run", "--plugin", "protein", "--out", str(out), "show_progress=false")
    result.one_line_error(74, f"{out} is not empty and is not a boostlora run directory", "(it holds final/)",
                          "--overwrite")
    assert tree(out) == {"final": None, "final/notes.tex": b"work\n"}  # nothing removed, nothing added


def test_a_foreign_directory_is_refused_naming_its_first_entries(toy_plugin, tmp_path):
    out = tmp_path / "papers"
    out.mkdir()
    for name in ("a.txt", "b.txt", "config.yaml", "d.txt", "e.txt", "f.txt", "report.json"):
        (out / name).write_text(name)
    before = tree(out)
    cli(*start_args(out)).one_line_error(74, "(it holds a.txt, b.txt, config.yaml, d.txt, e.txt, ... (2 more))")
    assert tree(out) == before


def test_overwrite_replaces_only_boostloras_own_files(reference, tmp_path):
    out = tmp_path / "mixed"
    (out / "final").mkdir(parents=True)
    (out / "final" / "notes.tex").write_text("work\n")
    (out / "sub").mkdir()
    (out / "sub" / "keep.txt").write_text("keep")
    for name, text in (("config.yaml", "mine: 1\n"), ("report.json", "{}"), ("mine.txt", "mine"), (".hidden", "h")):
        (out / name).write_text(text)
    assert cli(*start_args(out, "--overwrite")).code == 0
    reference.assert_reproduced_by(out)  # final/ and report.json are the run's
    assert "plugin: toy" in (out / "config.yaml").read_text()
    assert not (out / "final" / "notes.tex").exists()  # final/ is boostlora's name: --overwrite replaced it
    assert {k: v for k, v in tree(out).items() if k in ("sub", "sub/keep.txt", "mine.txt", ".hidden")} == {
        ".hidden": b"h", "mine.txt": b"mine", "sub": None, "sub/keep.txt": b"keep"}
    listed = json.loads((out / MARKER).read_text())["files"]
    assert {"config.yaml", "report.json", "checkpoint.pt", "svd.safetensors", "final", ".lock"} <= set(listed)
    assert not {"mine.txt", "sub", ".hidden"} & set(listed)


def test_a_failed_overwrite_start_leaves_the_users_files_and_nothing_of_its_own(toy_plugin, tmp_path):
    out = tmp_path / "mixed"
    out.mkdir()
    (out / "mine.txt").write_text("mine")
    cli(*start_args(out, "--overwrite"), fault="svd-saved=interrupt").one_line_error(130, "nothing to resume")
    assert tree(out) == {"mine.txt": b"mine"}  # marker, lock, config and SVD cache removed; the user's file kept


def test_a_failed_start_in_an_existing_empty_directory_keeps_the_directory(toy_plugin, tmp_path):
    out = tmp_path / "made-by-the-user"
    out.mkdir()
    cli(*start_args(out), fault="svd-saved=interrupt").one_line_error(130, "nothing to resume")
    assert out.is_dir() and tree(out) == {}


def test_a_start_into_a_run_directory_with_a_checkpoint_needs_resume_or_overwrite(reference, partial_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(partial_run, out)
    (out / "notes.txt").write_text("mine")
    before = files(out)
    cli(*start_args(out)).one_line_error(2, "already holds a run", "--resume", "--overwrite")
    assert files(out) == before
    assert cli(*start_args(out, "--overwrite")).code == 0  # starts over
    reference.assert_reproduced_by(out)
    assert (out / "notes.txt").read_text() == "mine"


def test_resume_of_a_run_directory_made_before_markers_marks_it(reference, damaged):
    (damaged / MARKER).unlink()
    before = files(damaged)
    cli(*start_args(damaged)).one_line_error(74, "not a boostlora run directory", "checkpoint.pt", "--resume")
    assert files(damaged) == before  # a fresh start took nothing of it
    assert cli("run", "--resume", str(damaged)).code == 0
    reference.assert_reproduced_by(damaged)
    assert (damaged / MARKER).exists()


def test_empty_out_or_resume_is_refused_and_writes_nothing(toy_plugin, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli("run", "--plugin", "toy", "--out", "", "task=toy").one_line_error(2, "--out is empty")
    cli("run", "--resume", "").one_line_error(2, "--resume is empty")
    assert list(tmp_path.iterdir()) == []


# ---- B: one writer, really ----------------------------------------------------------------------------------------


def test_two_fresh_starts_racing_for_a_missing_directory_one_runs_the_loser_removes_nothing(reference, tmp_path, monkeypatch):
    """The loser creates the directory, then is slowed until the winner holds it: it must stop, removing nothing.

    Before, the loser (having found the directory missing) deleted the winner's ``.lock`` on its way out, so a
    third start could lock a new one and write beside the winner.
    """
    out = tmp_path / "run"
    loser, winner = os.getpid(), []
    real_fault_point = rundir.fault_point

    def slowed(name: str) -> None:
        if name == "claiming" and os.getpid() == loser and not winner:
            winner.append(spawn(start_args(out), "claimed=stall", tmp_path / "logs"))
            wait_for(lambda: holds_lock(out, winner[0]))
        real_fault_point(name)

    monkeypatch.setattr(rundir, "fault_point", slowed)
    try:
        cli(*start_args(out)).one_line_error(75, f"PID {winner[0]}", "in use by another boostlora run")
        assert holds_lock(out, winner[0]) and (out / MARKER).exists()  # the winner's lock and marker are where they were
        cli(*start_args(out)).one_line_error(75, f"PID {winner[0]}")  # and the lock still keeps others out
        os.kill(winner[0], signal.SIGUSR1)  # let the winner go on
    except BaseException:
        if winner:
            os.kill(winner[0], signal.SIGKILL)
        raise
    finally:
        result = reap(winner[0], tmp_path / "logs") if winner else None
    assert result is not None and result.code == 0, result.err
    reference.assert_reproduced_by(out)


def test_a_lock_that_is_a_symbolic_link_is_never_written_through(damaged, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (damaged / ".lock").unlink()
    (damaged / ".lock").symlink_to(victim)
    cli("run", "--resume", str(damaged)).one_line_error(74, f"{damaged / '.lock'} is a symbolic link")
    assert victim.read_text() == "precious"
    assert (damaged / ".lock").is_symlink()


def replace_after_first_round(monkeypatch, out: Path, how) -> None:
    """Run ``how(out)`` right after round 0's checkpoint (the second save), as a user or a script might."""
    real = persistence.fault_point
    saved = []

    def hook(name: str) -> None:
        real(name)
        if name == "saved":
            saved.append(name)
            if len(saved) == 2:
                how(out)

    monkeypatch.setattr(persistence, "fault_point", hook)


def test_a_run_whose_directory_is_replaced_stops_without_writing_into_the_new_one(toy_plugin, tmp_path, monkeypatch):
    out, moved = tmp_path / "run", tmp_path / "moved"

    def replace(path: Path) -> None:
        path.rename(moved)
        path.mkdir()

    replace_after_first_round(monkeypatch, out, replace)
    cli(*start_args(out)).one_line_error(74, f"run directory {out} was removed or replaced")
    assert tree(out) == {}  # nothing written into the directory that took its place
    assert json.loads((moved / "report.json").read_text())["rounds"]  # round 0 is kept where it was saved


def test_a_run_whose_directory_is_removed_stops_instead_of_recreating_it(toy_plugin, tmp_path, monkeypatch):
    out = tmp_path / "run"
    replace_after_first_round(monkeypatch, out, shutil.rmtree)
    cli(*start_args(out)).one_line_error(74, f"run directory {out} was removed or replaced")
    assert not out.exists()
