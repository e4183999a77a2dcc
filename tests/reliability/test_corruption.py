"""Damage each file of a run directory in several ways: a resume refuses by name, or recomputes and reproduces."""

from __future__ import annotations

import io
import shutil

import pytest
import torch

from boostlora.runs.checkpoint import load_checkpoint
from boostlora.runs.rundir import write_marker

from .conftest import cli, files, start_args


def flip_bit_inside(data: bytes, needle: bytes) -> bytes:
    """``data`` with one bit flipped in the middle of the first occurrence of ``needle`` (a tensor's bytes)."""
    at = data.index(needle) + len(needle) // 2
    return data[:at] + bytes([data[at] ^ 0x04]) + data[at + 1 :]


def core_bytes(run_dir) -> bytes:
    return load_checkpoint(run_dir)["cores"][0]["out"].numpy().tobytes()


def old_layout_checkpoint(run_dir) -> bytes:
    """The same state as a version-1 checkpoint (no settings, no digests)."""
    state = load_checkpoint(run_dir)
    state = {k: v for k, v in state.items() if k not in ("settings", "content_sha256")} | {"version": 1}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


CHECKPOINT_DAMAGE = {
    "truncated": (lambda d, data: data[: len(data) // 2], "corrupt or truncated"),
    "empty": (lambda d, data: b"", "is empty"),
    "garbage": (lambda d, data: b"\x00not a checkpoint\xff" * 64, "corrupt or truncated"),
    "bit flip in a core": (lambda d, data: flip_bit_inside(data, core_bytes(d)), "corrupt"),
    "another torch file": (lambda d, data: torch_bytes({"weights": torch.zeros(3)}), "not a boostlora checkpoint"),
    "old layout": (lambda d, data: old_layout_checkpoint(d), "layout version 1"),
}


def torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("how", CHECKPOINT_DAMAGE)
def test_damaged_checkpoint_is_refused_by_name_and_left_alone(damaged, how):
    damage, needle = CHECKPOINT_DAMAGE[how]
    path = damaged / "checkpoint.pt"
    path.write_bytes(damage(damaged, path.read_bytes()))
    before = files(damaged)
    cli("run", "--resume", str(damaged)).one_line_error(74, str(path), needle)
    assert files(damaged) == before  # nothing rewritten, nothing removed


def flip_u(data: bytes) -> bytes:
    from safetensors.torch import load

    return flip_bit_inside(data, load(data)["out::U"].numpy().tobytes())


SVD_DAMAGE = {
    "truncated": lambda data, other: data[: len(data) // 2],
    "garbage": lambda data, other: b"\xff" * 200,
    "bit flip in U": lambda data, other: flip_u(data),
    "another model's": lambda data, other: other,
    "no identity": lambda data, other: plain_safetensors(data),
}


def plain_safetensors(data: bytes) -> bytes:
    from safetensors.torch import load, save

    return save(load(data))


@pytest.fixture(scope="module")
def foreign_svd(toy_plugin, tmp_path_factory) -> bytes:
    """The SVD cache of a run on another model (another seed of the toy network), as a failed start leaves it."""
    path = tmp_path_factory.mktemp("foreign") / "run"
    assert cli(*start_args(path, "max_rounds=1", "task_options.model_seed=7")).code == 0
    return (path / "svd.safetensors").read_bytes()


@pytest.mark.parametrize("how", SVD_DAMAGE)
def test_damaged_or_foreign_svd_cache_is_recomputed_and_the_resume_is_bit_identical(reference, damaged, foreign_svd, how, caplog):
    path = damaged / "svd.safetensors"
    path.write_bytes(SVD_DAMAGE[how](path.read_bytes(), foreign_svd))
    result = cli("run", "--resume", str(damaged))
    assert result.code == 0, result.err
    assert f"{path} " in caplog.text and ": recomputing it" in caplog.text
    reference.assert_reproduced_by(damaged)


def test_missing_svd_cache_is_recomputed(reference, damaged):
    (damaged / "svd.safetensors").unlink()
    assert cli("run", "--resume", str(damaged)).code == 0
    reference.assert_reproduced_by(damaged)


def test_foreign_svd_cache_is_never_used_by_a_fresh_start(reference, foreign_svd, tmp_path, caplog):
    out = tmp_path / "run"
    out.mkdir()
    write_marker(out)  # a run directory, as every start leaves it
    (out / "svd.safetensors").write_bytes(foreign_svd)  # left behind by a failed start under another model
    result = cli(*start_args(out))
    assert result.code == 0, result.err
    assert "was computed for another run (weights_sha256 differs): recomputing it" in caplog.text
    reference.assert_reproduced_by(out)


def test_a_recomputed_svd_that_differs_is_refused(damaged, monkeypatch):
    from boostlora.runs import svd_cache

    exact = svd_cache.truncated_svd
    monkeypatch.setattr(svd_cache, "truncated_svd", lambda w, k, m: exact(w * (1 + 1e-6), k, m))  # another LAPACK
    (damaged / "svd.safetensors").unlink()
    before = files(damaged)
    cli("run", "--resume", str(damaged)).one_line_error(74, "does not reproduce the directions")
    assert files(damaged) == before


EDITS = {
    "strategy: rotate": ("strategy: top", "strategy"),
    "model: null": ("model: another-net", "model"),
    "seed: 0": ("seed: 1", "seed"),
    "r: 2": ("r: 1", "r"),
    "max_rounds: 3": ("max_rounds: 0", "max_rounds must be at least 1"),
}


@pytest.mark.parametrize("line", EDITS)
def test_edited_config_contradicting_the_checkpoint_is_refused_by_name(damaged, line):
    replacement, needle = EDITS[line]
    config = damaged / "config.yaml"
    assert line in config.read_text()
    config.write_text(config.read_text().replace(line, replacement))
    before = files(damaged)
    cli("run", "--resume", str(damaged)).one_line_error(2, needle)
    assert files(damaged) == before


def test_max_rounds_below_the_merged_rounds_is_refused(damaged):
    before = files(damaged)
    cli("run", "--resume", str(damaged), "max_rounds=0").one_line_error(2, "max_rounds must be at least 1")
    config = damaged / "config.yaml"
    config.write_text(config.read_text().replace("max_rounds: 3", "max_rounds: 1"))
    assert cli("run", "--resume", str(damaged)).code == 0  # 1 round merged: max_rounds=1 just stops here
    (damaged / "checkpoint.pt").write_bytes(before["checkpoint.pt"])
    config.write_text(before["config.yaml"].decode().replace("max_rounds: 3", "max_rounds: 2"))
    shutil.rmtree(damaged / "final")
    assert cli("run", "--resume", str(damaged)).code == 0


def test_raising_max_rounds_on_resume_is_allowed_and_recorded(reference, damaged, tmp_path):
    result = cli("run", "--resume", str(damaged), "max_rounds=4")
    assert result.code == 0, result.err
    assert "max_rounds: 4" in (damaged / "config.yaml").read_text()
    state = load_checkpoint(damaged)
    assert len(state["report"]["rounds"]) == 4 and state["settings"]["max_rounds"] == 4


def test_garbage_config_is_one_line(damaged):
    (damaged / "config.yaml").write_bytes(b"\xff\xfe\x00garbage")
    before = files(damaged)
    cli("run", "--resume", str(damaged)).one_line_error(2, "config.yaml", "not text")
    (damaged / "config.yaml").write_text("strategy: [rotate\n")
    cli("run", "--resume", str(damaged)).one_line_error(2, "config.yaml", "not valid YAML")
    assert files(damaged)["checkpoint.pt"] == before["checkpoint.pt"]


REPORT_DAMAGE = {
    "truncated": (lambda text: text[: len(text) // 2], "not valid JSON"),
    "a list": (lambda text: "[]", "holds a JSON list"),
    "missing rounds": (lambda text: text.replace('"rounds"', '"roundz"'), "'rounds' is missing"),
    "wrong type": (lambda text: text.replace('"r": 2', '"r": "two"'), "'r' is 'two'"),
    "rounds not a list": (lambda text: text.replace('"rounds": [', '"rounds": 3, "old": ['), "'rounds' is 3, not a list"),
    "a round not an object": (lambda text: text.replace('"rounds": [', '"rounds": [7, '), "'rounds[0]' is 7"),
    "a rank not an integer": (lambda text: text.replace('"effective_rank": {\n        "out": 2', '"effective_rank": {"out": "x"'),
                              "effective_rank' holds a value that is not an integer"),
    "binary": (lambda text: "\udcff", "not text"),
}


@pytest.mark.parametrize("how", REPORT_DAMAGE)
def test_malformed_report_json_given_to_report_is_one_line(damaged, how):
    damage, needle = REPORT_DAMAGE[how]
    path = damaged / "report.json"
    path.write_bytes(damage(path.read_text()).encode("utf-8", "surrogateescape"))
    cli("report", str(damaged)).one_line_error(74, str(path), needle)


def test_damaged_report_json_is_rewritten_from_the_checkpoint_on_resume(reference, damaged):
    (damaged / "report.json").write_text("{")
    assert cli("run", "--resume", str(damaged)).code == 0
    reference.assert_reproduced_by(damaged)


def test_stale_temporaries_and_lock_content_do_not_survive_a_resume(reference, damaged):
    (damaged / ".checkpoint.pt.dead.tmp").write_bytes(b"half a checkpoint")
    (damaged / ".svd.safetensors.dead.tmp").write_bytes(b"half a cache")
    (damaged / "final.tmp").mkdir()
    (damaged / "final.tmp" / "model.safetensors").write_bytes(b"half a model")
    (damaged / ".lock").write_text("garbage, not a pid")
    (damaged / ".notes.tmp").write_text("the user's, not ours")
    assert cli("run", "--resume", str(damaged)).code == 0
    (damaged / ".notes.tmp").unlink()  # left alone: only our own temporaries are removed
    reference.assert_reproduced_by(damaged)
    assert not (damaged / "final.tmp").exists()


def test_missing_config_beside_a_checkpoint_is_named(damaged):
    (damaged / "config.yaml").unlink()
    before = files(damaged)
    cli("run", "--resume", str(damaged)).one_line_error(74, f"{damaged / 'config.yaml'} is missing", "checkpoint.pt")
    assert files(damaged) == before


def test_damaged_final_model_of_a_finished_run_is_rewritten_by_a_resume(reference, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(reference.path, run)
    model = run / "final" / "model.safetensors"
    model.write_bytes(model.read_bytes()[:100])
    assert cli("run", "--resume", str(run)).code == 0
    reference.assert_reproduced_by(run)
