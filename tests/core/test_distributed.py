"""Two CPU processes (gloo) against one: same failure sets, identical merges on every rank, same final model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from boostlora.foundation.config import build_config
from boostlora.contract.evaluation import evaluate
from boostlora.runs.lifecycle import boost

SETTINGS = {"plugin": "toy", "task": "toy", "u": 4, "weight_tying": 0.0, "targets": ["hidden", "out"], "max_rounds": 2,
            "show_progress": False, "objective_options": {"lr": 0.1, "steps": 15, "batch_size": 64}}


def failure_set() -> list[int]:
    from ..toy_plugin import ToyTask

    task = ToyTask({})
    model = task.load_model("toy-net", torch.device("cpu"))
    return evaluate(task, model, task.load_splits(0).train).failures


def worker(rank: int, world: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    from boostlora.contract.plugins import register_plugin

    from .. import toy_plugin

    register_plugin(toy_plugin, name="toy")
    failures = failure_set()
    report = boost(build_config(SETTINGS), Path(out) / "run")
    digests = [record["weights_sha256"] for record in report["rounds"]]  # each rank's own merged weights
    torch.save({"failures": failures, "digests": digests}, Path(out) / f"rank{rank}.pt")
    dist.destroy_process_group()


def test_two_processes_match_one(toy_plugin, tmp_path):
    single = tmp_path / "single"
    boost(build_config(SETTINGS), single)
    mp.spawn(worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    reference = failure_set()
    ranks = [torch.load(tmp_path / f"rank{rank}.pt") for rank in (0, 1)]
    assert ranks[0]["failures"] == ranks[1]["failures"] == reference
    assert len(ranks[0]["digests"]) == 2 and ranks[0]["digests"] == ranks[1]["digests"]
    multi, one = json.loads((tmp_path / "run" / "report.json").read_text()), json.loads((single / "report.json").read_text())
    assert [r["n_failures"] for r in multi["rounds"]] == [r["n_failures"] for r in one["rounds"]]
    from safetensors.torch import load_file

    a, b = load_file(str(tmp_path / "run" / "final" / "model.safetensors")), load_file(str(single / "final" / "model.safetensors"))
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key


def own_evaluate_worker(rank: int, world: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    from boostlora.contract.plugins import register_plugin

    from .. import toy_plugin

    register_plugin(toy_plugin, name="toy")
    report = boost(build_config({**SETTINGS, "task": "own-evaluate", "max_rounds": 1}), Path(out) / "run")
    torch.save({"batches": toy_plugin.OwnEvaluateTask.batches, "report": report}, Path(out) / f"own{rank}.pt")
    dist.destroy_process_group()


def test_two_processes_use_the_tasks_own_evaluate(toy_plugin, tmp_path):
    """Each process calls the task's own evaluate on its half; its extra metrics survive the gather."""
    mp.spawn(own_evaluate_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"own{rank}.pt", weights_only=False) for rank in (0, 1)]
    # base evaluations (256 held-out, 256 validation), train split (512), validation and held-out after the merge:
    # each rank judges half of each
    assert ranks[0]["batches"] == ranks[1]["batches"] == [128, 128, 256, 128, 128]
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["base_eval_metrics"] == {"own_evaluate": 1.0, "judged": 256.0}
    (record,) = report["rounds"]
    assert record["eval_metrics"] == {"own_evaluate": 1.0, "judged": 256.0}
    assert record["train_metrics"]["judged"] == 512.0 and record["train_metrics"]["own_evaluate"] == 1.0
