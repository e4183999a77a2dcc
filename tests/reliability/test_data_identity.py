"""A run is tied to the data it trained on: ``--resume`` refuses a data file that changed since the checkpoint."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from boostlora.foundation.config import build_config
from boostlora.runs.run_identity import data_files

from .conftest import cli

RESIDUES = "ACDEFGHIKLMNPQRSTVWY"


def protein_csv(path: Path, rows: int = 48, seed: int = 0) -> Path:
    rng = random.Random(seed)
    lines = ["sequence,label"]
    for i in range(rows):
        lines.append("".join(rng.choice(RESIDUES) for _ in range(rng.randint(8, 20))) + f",{i % 2}")
    path.write_text("\n".join(lines) + "\n")
    return path


def start(out: Path, data: Path, *extra: str) -> list[str]:
    return ["run", "--plugin", "protein", "--out", str(out), f"task_options.data={data}", "max_rounds=2",
            "show_progress=false", "objective_options.steps=3", *extra]


def test_resume_after_the_data_file_changed_is_refused_naming_it(tmp_path):
    data = protein_csv(tmp_path / "train.csv")
    out = tmp_path / "run"
    cli(*start(out, data), fault="saved#2=interrupt").one_line_error(130, "interrupted after 1 merged round(s)")
    recorded = json.loads((out / "report.json").read_text())["data_sha256"]
    assert set(recorded) == {"task_options.data"} and recorded["task_options.data"]["path"] == str(data)
    untouched = tmp_path / "copy"
    shutil.copytree(out, untouched)

    lines = data.read_text().splitlines()
    lines[1] = lines[1][:-1] + ("1" if lines[1].endswith("0") else "0")  # one label flipped
    data.write_text("\n".join(lines) + "\n")
    before = (out / "checkpoint.pt").read_bytes()
    cli("run", "--resume", str(out)).one_line_error(2, f"{data} (task_options.data) changed since", "SHA-256 differs")
    assert (out / "checkpoint.pt").read_bytes() == before

    data.unlink()
    cli("run", "--resume", str(untouched)).one_line_error(2, f"{data} (task_options.data) cannot be read")
    protein_csv(data)  # the very same bytes again: the run continues
    assert cli("run", "--resume", str(untouched)).code == 0


def test_every_task_option_naming_an_existing_file_is_digested(tmp_path):
    a, b = protein_csv(tmp_path / "a.csv"), protein_csv(tmp_path / "b.csv", seed=1)
    config = build_config({"plugin": "protein", "task_options": {
        "data": str(a), "eval_data": str(b), "label_column": "label", "sequence_column": str(tmp_path)}})
    assert data_files(config) == {"task_options.data": str(a), "task_options.eval_data": str(b)}  # a folder is no file
