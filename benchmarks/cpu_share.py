"""A GRPO step's cost on a quiet CPU and beside busy processes, under OpenMP's wait settings,
and how close the step's loss and backward come to the machine's own matrix-multiply speed, all in one run.

Why: PyTorch's CPU kernels run on OpenMP threads. By default GNU OpenMP spins for a while at every barrier before
sleeping, so a thread that waits for a descheduled sibling burns the CPU that sibling needs, and on an
oversubscribed machine a step can cost far more than its fair share. ``OMP_WAIT_POLICY=PASSIVE`` makes waiting
threads sleep at once; ``GOMP_SPINCOUNT`` shortens the spin. The policy is read when the OpenMP runtime loads, so every measurement runs in a fresh
interpreter with the variable set before torch is imported.

A "step" here is the default job's GRPO step in miniature, on SmolLM2-135M with a round adapter in all 30 layers
(as ``grpo_overhead.py`` builds it): sampled generation of ``--prompts`` prompts x 12 tokens, then the loss's
forward and backward on ``--rows`` sequences with gradient checkpointing. Busy neighbours are ``--busy`` processes
spinning in pure Python (one core each). Order A B B A over policies, medians of ``--repeats``.

FLOPs of the loss and backward are counted by torch's own counter (``torch.utils.flop_counter.FlopCounterMode``)
over one untimed pass of the same batch: every matrix product the step really runs, from the shapes of the model
and the batch, including the forward that gradient checkpointing repeats and no weight gradient of the frozen
base. The machine's reference is a 2048 x 2048 fp32 matrix product at the same thread count, in the same process.

    python benchmarks/cpu_share.py [--threads 2] [--busy 2] [--repeats 2] [--markdown out.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from outputs import publish

#: What each measured variant adds to the environment: libgomp's default (spin a while at a barrier, then sleep),
#: sleeping at once, and a short spin before sleeping.
VARIANTS = {
    "default": {},
    "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "GOMP_SPINCOUNT=10000": {"GOMP_SPINCOUNT": "10000"},
    "GOMP_SPINCOUNT=1000": {"GOMP_SPINCOUNT": "1000"},
}


def matmul_flops(threads: int, size: int = 2048, repeats: int = 5) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / min(times)


def one(args: argparse.Namespace) -> dict[str, Any]:
    """The child: one step's parts, timed (its OpenMP settings were put in its environment by the parent)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    sys.path.insert(0, str(Path(__file__).parent))
    from boostlora.method.adapter import attach_round_adapter, resolve_targets
    from boostlora.method.subspace import SubspaceAllocator
    from grpo_overhead import TARGETS, fresh_model

    torch.set_num_threads(args.threads)
    reference = matmul_flops(args.threads)
    model, tokenizer = fresh_model(argparse.Namespace(model=args.model))
    targets = resolve_targets(model, TARGETS)
    allocator = SubspaceAllocator.from_model(model, targets, strategy="rotate", r=2, max_rounds=4, block_scale="matched")
    adapter = attach_round_adapter(model, targets, allocator, round_index=0, r=2, u=16, weight_tying=0.0, seed=0)
    peft_model = adapter.model
    prompts = [f"What is {10 + i} + {20 + 3 * i}? Answer with the number only." for i in range(args.prompts)]
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    torch.manual_seed(0)
    peft_model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        peft_model.generate(**batch, max_new_tokens=12, do_sample=True, temperature=1.0,
                            pad_token_id=tokenizer.pad_token_id)
    generation = time.perf_counter() - start
    seq = 57
    ids = torch.randint(0, tokenizer.vocab_size, (args.rows, seq), generator=torch.Generator().manual_seed(0))
    peft_model.train()
    peft_model.base_model.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    with FlopCounterMode(display=False) as counter:  # counted once, untimed: what the step really multiplies
        peft_model(input_ids=ids, labels=ids).loss.backward()
    flops = counter.get_total_flops()
    start = time.perf_counter()
    loss = peft_model(input_ids=ids, labels=ids).loss
    loss.backward()
    backward = time.perf_counter() - start
    return {"generation_s": generation, "loss_backward_s": backward, "step_s": generation + backward,
            "achieved_flops": flops / backward, "matmul_flops": reference}


def spinners(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def measure(policy: str, busy: int, args: argparse.Namespace) -> dict[str, Any]:
    env = {key: value for key, value in os.environ.items() if key not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(VARIANTS[policy])
    command = [sys.executable, __file__, "--child", "--threads", str(args.threads), "--model", args.model,
               "--prompts", str(args.prompts), "--rows", str(args.rows)]
    neighbours = spinners(busy)
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    finally:
        for process in neighbours:
            process.kill()
            process.wait()
    if done.returncode != 0:
        sys.exit(f"{policy} with {busy} busy failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def markdown(results: dict[str, dict[str, list[dict[str, Any]]]], args: argparse.Namespace) -> str:
    def med(policy: str, load: str, key: str) -> float:
        return statistics.median(r[key] for r in results[policy][load])

    cores = len(os.sched_getaffinity(0))
    fair = (args.threads + args.busy) / min(cores, args.threads + args.busy) if args.busy else 1.0
    lines = [
        (f"{args.model}, {args.threads} torch threads on {cores} CPUs; a step = generation of {args.prompts} prompts "
         f"x 12 tokens + checkpointed loss and backward of {args.rows} x 57 tokens; loaded = beside {args.busy} busy "
         f"processes; medians of {args.repeats}, policies in A B B A order. The fair-share slowdown with "
         f"{args.busy} busy processes is about {fair:.1f}x."),
        "",
        "| OpenMP waiting | quiet step | loaded step | loaded / quiet | generation loaded / quiet | loss+backward loaded / quiet |",
        "|---|---|---|---|---|---|",
    ]
    for policy in results:
        q, lo = med(policy, "quiet", "step_s"), med(policy, "loaded", "step_s")
        g = med(policy, "loaded", "generation_s") / med(policy, "quiet", "generation_s")
        b = med(policy, "loaded", "loss_backward_s") / med(policy, "quiet", "loss_backward_s")
        lines.append(f"| {policy} | {q:.2f} s | {lo:.2f} s | {lo / q:.2f} | {g:.2f} | {b:.2f} |")
    achieved = [r["achieved_flops"] for p in results for r in results[p]["quiet"]]
    reference = [r["matmul_flops"] for p in results for r in results[p]["quiet"]]
    lines += ["", (f"Quiet loss and backward: {statistics.median(achieved) / 1e9:.1f} GFLOP/s achieved against "
                   f"{statistics.median(reference) / 1e9:.1f} GFLOP/s for a 2048 x 2048 fp32 matrix product at the "
                   f"same threads ({statistics.median(achieved) / statistics.median(reference):.0%}).")]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="smollm2-135m-instruct (default) or tiny")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--busy", type=int, default=2, help="busy neighbour processes in the loaded runs")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--rows", type=int, default=16, help="sequences in the loss and backward")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--markdown", help="also write the table here")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one(args)))
        return
    variants = tuple(args.variants)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {p: {"quiet": [], "loaded": []} for p in variants}
    for repeat in range(args.repeats):
        for policy in (variants if repeat % 2 == 0 else variants[::-1]):
            for load, busy in (("quiet", 0), ("loaded", args.busy)):
                row = measure(policy, busy, args)
                results[policy][load].append(row)
                print(f"{policy} {load}: step {row['step_s']:.2f} s", file=sys.stderr, flush=True)
    publish(markdown(results, args), results, args.markdown, args.json)


if __name__ == "__main__":
    main()
