"""GRPO rounds under two CPU processes (gloo), through TRL/accelerate's data parallelism and the real loop.

Sampling is per process, so two processes do not draw the same completions as one; what must hold is that
every rank merges the bit-identical update (the loop compares a digest after each round and stops otherwise)
and that settings that cannot be split over the processes are refused before anything loads.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from boostlora import ConfigError, hookimpl
from boostlora.foundation.config import build_config
from boostlora.foundation.distributed import refuse_sharded_engines
from boostlora.objectives.grpo import GRPO

import math_helpers

pytest.importorskip("trl")

PROMPTS = ["what is the answer ?", "1 + 2 =", "b c d", "what is 3 + 1 ?", "a b", "c d ?", "2 + 2 =", "the answer"]
SETTINGS = {
    "plugin": "count_a_plugin", "task": "count_a", "model": "tiny", "r": 2, "u": 4, "weight_tying": 0.0,
    "targets": ["q_proj", "v_proj", "up_proj", "down_proj"], "max_rounds": 2, "show_progress": False,
    "objective": "grpo",
    "objective_options": {"lr": 0.1, "steps": 3, "prompts_per_step": 4, "num_generations": 4,
                          "max_completion_length": 5, "warmup_steps": 0},
}


class CountA(math_helpers.CountA):
    prompts = PROMPTS

@hookimpl
def boostlora_register_tasks(register) -> None:
    register(CountA)


def worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    import sys

    from boostlora.runs.lifecycle import boost
    from boostlora.contract.plugins import register_plugin

    register_plugin(sys.modules[__name__], name="count_a_plugin")
    report = boost(build_config(SETTINGS), Path(out) / "run")  # the loop joins the group from the environment
    (Path(out) / f"rank{rank}.json").write_text(json.dumps(report["rounds"]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_merge_identical_grpo_rounds(tmp_path):
    mp.spawn(worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert len(ranks[0]) == 2
    digests = [[record["weights_sha256"] for record in rounds] for rounds in ranks]
    assert digests[0] == digests[1] and len(set(digests[0])) == 2  # identical on both ranks, and moved each round
    assert [r["n_failures"] for r in ranks[0]] == [r["n_failures"] for r in ranks[1]]
    assert all(max(record["effective_rank"].values()) == 2 * (k + 1) for k, record in enumerate(ranks[0]))
    assert ranks[0][0]["train_metrics"]["lr"] == 0.1
    written = json.loads((tmp_path / "run" / "report.json").read_text())  # rank 0 alone wrote the run directory
    assert [r["weights_sha256"] for r in written["rounds"]] == digests[0]


def test_a_step_that_does_not_split_over_the_processes_is_refused():
    objective = GRPO({"prompts_per_step": 6, "num_generations": 4})
    objective.check_processes(2)
    objective.check_processes(3)
    with pytest.raises(ConfigError, match=r"prompts_per_step=6 cannot be split over 4 processes.*num_generations=4"):
        objective.check_processes(4)


@pytest.mark.parametrize("variable", ["ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED"])
def test_sharded_engines_are_refused_with_the_alternative(variable):
    refuse_sharded_engines({variable: "false"})
    with pytest.raises(ConfigError, match=r"not supported .*accelerate launch --multi_gpu"):
        refuse_sharded_engines({variable: "true"})


def test_asking_for_vllm_without_it_is_one_clear_message(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    with pytest.raises(ConfigError, match=r"needs vLLM, which is not installed: pip install 'boostlora\[vllm\]'"):
        GRPO({"generation_backend": "vllm"})
    with pytest.raises(ConfigError, match="generation_backend must be one of transformers, vllm"):
        GRPO({"generation_backend": "sglang"})
