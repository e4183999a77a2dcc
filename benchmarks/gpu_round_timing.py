"""One bf16 boosting round on each device: the protein task (cross-entropy, tiny random ESM2) and a tiny Llama under
GRPO, timed on CPU and on CUDA in the same process, so the two numbers come from one run on one machine.

    python benchmarks/gpu_round_timing.py --devices cpu cuda

Prints one line per task and device (round seconds, merge gap against the bf16 bound) and exits 1 if a round fails.
The tiny Llama is the tests' (tests/math/math_helpers.py): no weights are downloaded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "math"))

import math_helpers  # noqa: E402  (the tests' tiny Llama and its task)

from boostlora import hookimpl  # noqa: E402
from boostlora.contract.plugins import find_task, register_plugin  # noqa: E402
from boostlora.foundation.config import build_config, merge_settings  # noqa: E402
from boostlora.runs.lifecycle import boost  # noqa: E402


class CountA(math_helpers.CountA):
    name = "count_a_gpu_check"
    predict_tokens = 4


def settings(task: str, device: str) -> dict:
    if task == "protein":
        preset = dict(find_task("protein").presets["default"])
        return merge_settings(merge_settings({"plugin": "protein"}, preset, "default"),
                              {"max_rounds": 1, "dtype": "bfloat16", "device": device, "show_progress": False}, "check")
    return {"plugin": "gpu_check", "task": CountA.name, "model": "tiny", "r": 2, "u": 4, "weight_tying": 0.0,
            "max_rounds": 1, "show_progress": False, "dtype": "bfloat16", "device": device,
            "objective_options": {"lr": 0.1, "steps": 2, "prompts_per_step": 2, "num_generations": 4,
                                  "max_completion_length": 4, "warmup_steps": 0}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    args = parser.parse_args()
    plugin = types.SimpleNamespace(boostlora_register_tasks=hookimpl(lambda register: register(CountA)))
    register_plugin(plugin, name="gpu_check")
    failed = False
    for task in ("protein", "tiny-llama-grpo"):
        for device in args.devices:
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                try:
                    report = boost(build_config(settings(task, device)), Path(out) / "run")
                except Exception as exc:  # report every device's result, then fail
                    print(f"{task:<16} {device:<5} FAILED: {type(exc).__name__}: {exc}")
                    failed = True
                    continue
                record = report["rounds"][0]
                print(f"{task:<16} {device:<5} run {time.perf_counter() - start:7.2f} s, round {record['seconds']:7.2f} s, "
                      f"merge gap {record['merge_gap']:.1e} (bound {report['merge_bound']:.1e}), "
                      f"held-out {report['base_eval_accuracy']:.3f} -> {record['eval_accuracy']:.3f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
