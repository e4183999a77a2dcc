"""Speed ideas for a GRPO round, each measured against the default round side by side, results compared exactly.

Every variant trains the same round (same model, prompts, reward, seed, steps) through the ``grpo`` objective;
the default and the variant alternate, and each run reports the objective's own time split
(``core/objectives/grpo_timing.py``) and the trained adapter's numbers, so a variant that is faster but
trains something else shows up as "different" rather than as a win.

Variants: ``gradient_checkpointing`` on (TRL's own default; ours is off), ``beta`` 0.04 (a KL reference: what
beta=0 saves), and ``threads`` 2 instead of 1.

    python benchmarks/grpo_variants.py [--model tiny|smollm2-135m-instruct] [--steps 3] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from typing import Any

import torch

from boostlora import RoundContext
from boostlora.method.adapter import attach_round_adapter, resolve_targets
from boostlora.objectives.grpo import GRPO
from boostlora.method.subspace import SubspaceAllocator

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from grpo_overhead import TARGETS, Addition, fresh_model, problems  # noqa: E402  (a script beside this one)

VARIANTS: dict[str, dict[str, Any]] = {
    "gradient_checkpointing": {"options": {"gradient_checkpointing": True}},
    "beta=0.04": {"options": {"beta": 0.04}},
    "threads=2": {"threads": 2},
}


class VowelShare(Addition):
    """The addition prompts with a shaped reward (the share of the completion's characters that are vowels), so
    even a random-init model's samples differ in reward and the round's v really moves: identical v then means
    something."""

    def reward(self, example: tuple[str, int], completion: str) -> float:
        return sum(c in "aeiou" for c in completion.lower()) / max(len(completion), 1)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def one_round(args: argparse.Namespace, options: dict[str, Any], threads: int) -> dict[str, Any]:
    """A fresh model, the loop's round adapter, one ``grpo`` round: per-step seconds, its split, the trained v."""
    torch.set_num_threads(threads)
    model, tokenizer = fresh_model(args)
    targets = resolve_targets(model, TARGETS)
    allocator = SubspaceAllocator.from_model(model, targets, strategy="rotate", r=2, max_rounds=4, block_scale="matched")
    adapter = attach_round_adapter(model, targets, allocator, round_index=0, r=2, u=args.u, weight_tying=0.0, seed=args.seed)
    settings = {"lr": args.lr, "steps": args.steps, "prompts_per_step": args.prompts, "num_generations": args.generations,
                "max_completion_length": args.completion, "warmup_steps": 0, "beta": 0.0, **options}
    ctx = RoundContext(adapter.model, VowelShare(tokenizer), problems(args.prompts * 2, args.seed), adapter.trainable,
                       round=0, seed=args.seed, device=torch.device("cpu"), show_progress=False)
    torch.manual_seed(args.seed)
    result = GRPO(settings).train(ctx)
    parts = result.seconds_by_phase
    loop = sum(parts.values()) - parts["setup"]
    return {"per_step_s": loop / args.steps, "parts": parts, "losses": result.losses,
            "v": torch.cat([p.detach().flatten() for p in adapter.trainable])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--completion", type=int, default=12)
    parser.add_argument("--u", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    one_round(argparse.Namespace(**{**vars(args), "steps": 1}), {}, 1)  # warm-up, not counted
    results: dict[str, Any] = {}
    for name in args.variants:
        variant = VARIANTS[name]
        pairs = []
        for repeat in range(args.repeats):
            order = ("default", name) if repeat % 2 == 0 else (name, "default")
            runs = {}
            for side in order:
                runs[side] = one_round(args, variant.get("options", {}) if side == name else {},
                                       variant.get("threads", 1) if side == name else 1)
                log(f"{name} repeat {repeat}: {side} {runs[side]['per_step_s']:.3f} s per step")
            pairs.append(runs)
        same = all(torch.equal(p["default"]["v"], p[name]["v"]) for p in pairs)
        gap = max(float((p["default"]["v"] - p[name]["v"]).abs().max()) for p in pairs)
        results[name] = {
            "default_per_step_s": statistics.median(p["default"]["per_step_s"] for p in pairs),
            "variant_per_step_s": statistics.median(p[name]["per_step_s"] for p in pairs),
            "paired_ratios": [p[name]["per_step_s"] / p["default"]["per_step_s"] for p in pairs],
            "variant_parts": {k: statistics.median(p[name]["parts"][k] for p in pairs) for k in pairs[0][name]["parts"]},
            "default_parts": {k: statistics.median(p["default"]["parts"][k] for p in pairs) for k in pairs[0]["default"]["parts"]},
            "same_trained_v": same, "max_v_difference": gap,
            "max_abs_v": max(float(p["default"]["v"].abs().max()) for p in pairs),  # > 0: the round did train
        }
    lines = [f"GRPO round on {args.model}, {args.steps} steps x {args.prompts} prompts x {args.generations} samples, "
             f"medians of {args.repeats} alternating pairs", "",
             "| variant | default per step | variant per step | variant / default (pairs) | same trained v |", "|---|---|---|---|---|"]
    for name, r in results.items():
        ratios = ", ".join(f"{x:.2f}" for x in r["paired_ratios"])
        same = "yes, bit for bit" if r["same_trained_v"] else f"no (largest difference {r['max_v_difference']:.1e})"
        same += f"; max abs v {r['max_abs_v']:.1e}"
        lines.append(f"| {name} | {r['default_per_step_s']:.3f} s | {r['variant_per_step_s']:.3f} s | "
                     f"{r['variant_per_step_s'] / r['default_per_step_s']:.2f} ({ratios}) | {same} |")
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
