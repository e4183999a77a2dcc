"""Throughput of one protein round on CPU: training (sequences/s through forward+backward of the round adapter)
and the whole-train-set evaluation every round starts with (sequences/s, inference).

Models: the test-only tiny random-init ESM2 and a random-init model of ESM2-8M's shape (6 layers, 320 wide,
20 heads; no download). Data: the synthetic task (sequences of 24-52 residues). One thread, as a shared CPU
gets. Uses core internals (adapter, subspace) directly so only the round's training is timed.

    python benchmarks/protein_throughput.py [--steps 20] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from boostlora.method.adapter import attach_round_adapter, resolve_targets
from boostlora.contract.objective import RoundContext
from boostlora.objectives.cross_entropy import CrossEntropy
from boostlora.method.subspace import SubspaceAllocator
from boostlora_plugins.protein.task import ProteinTask

MODELS = {"tiny": "tiny-random-esm2", "esm2-8M-shape": "random-esm2-8m-shape"}


def measure(model_name: str, steps: int, batch_size: int, n_eval: int) -> dict[str, float]:
    cpu = torch.device("cpu")
    task = ProteinTask({"synthetic_size": max(n_eval, 2 * batch_size) * 4 // 3 + 4, "batch_size": 64})
    splits = task.load_splits(0)
    model = task.load_model(model_name, cpu)
    model.requires_grad_(False)
    task.prepare(model, splits)
    examples = list(splits.train)[:n_eval]
    encoder_params = sum(p.numel() for p in model.encoder.parameters())

    started = time.perf_counter()
    task.evaluate(model, examples)
    eval_rate = len(examples) / (time.perf_counter() - started)

    targets = resolve_targets(model, list(task.default_targets))
    allocator = SubspaceAllocator.from_model(model, targets, strategy="rotate", r=2, max_rounds=1, block_scale="matched")
    adapter = attach_round_adapter(model, targets, allocator, round_index=0, r=2, u=4, weight_tying=0.0, seed=0)
    objective = CrossEntropy({"steps": steps, "batch_size": batch_size, "warmup_steps": 0})
    ctx = RoundContext(adapter.model, task, examples, adapter.trainable, 0, 0, cpu, show_progress=False)
    objective.train(ctx)  # warm-up: first-call allocations and rotary tables
    started = time.perf_counter()
    objective.train(ctx)
    train_rate = steps * batch_size / (time.perf_counter() - started)
    mean_tokens = sum(task.encoder.lengths(examples)) / len(examples)
    return {"train_seq_per_s": round(train_rate, 1), "eval_seq_per_s": round(eval_rate, 1),
            "mean_tokens": round(mean_tokens, 1), "trainable_params": adapter.trainable_count,
            "encoder_params": encoder_params}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--n-eval", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for label, name in MODELS.items():
        results[label] = measure(name, args.steps, args.batch_size, args.n_eval)
        print(f"{label:>14}: train {results[label]['train_seq_per_s']:>7} seq/s, eval {results[label]['eval_seq_per_s']:>7} seq/s "
              f"(mean {results[label]['mean_tokens']} tokens, {results[label]['trainable_params']} trainable)", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "results": results}, fh, indent=1)


if __name__ == "__main__":
    main()
