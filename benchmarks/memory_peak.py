"""Peak resident memory of one GRPO round of the default job's shape: bare TRL beside boostlora, in one run.

Each side runs in a fresh interpreter (malloc's thresholds and heaps are per process), one after another, on the
same model, prompts, reward, seed and batch as ``grpo_overhead.py``: 16 prompts x 4 samples x 12 tokens per step,
gradient checkpointing on (the math default preset's setting), fp32. Dynamic sampling is off on the boostlora
side so both compute the loss on all 64 sequences, as the default job's later rounds do once most groups disagree.
The peak is the process's resident high-water mark (``VmHWM``), reset after the model has loaded, over the round.

Sides:
  bare_trl            GRPOTrainer + peft TinyLoraConfig, as TRL's and peft's docs show
  bare_trl_env        the same, in the process environment ``boostlora run`` starts in (foundation/launch.py:
                      glibc's allocator with fixed 1 MiB thresholds and transparent huge pages)
  boostlora_before    the ``grpo`` objective with TRL's own log-probability tiles and glibc's default allocator
  boostlora_tiles     with the smaller CPU tiles only (objectives/logprob_tiles.py)
  boostlora           both, as ``boostlora run`` does now

Every boostlora side's trained cores are hashed: equal digests mean the memory changes altered no bit.

    python benchmarks/memory_peak.py [--steps 2] [--threads 1] [--markdown out.md]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from boostlora.foundation.launch import run_environment
from outputs import publish

SIDES = ("bare_trl", "bare_trl_env", "boostlora_before", "boostlora_tiles", "boostlora")
#: Sides that run in the environment ``boostlora run`` gives itself.
IN_RUN_ENVIRONMENT = ("bare_trl_env", "boostlora")


def one_side(side: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run ``side`` in this process and return its numbers (the child's half of the benchmark)."""
    import torch
    from boostlora.foundation.memory import MIB, peak_rss_bytes, reset_peak
    from boostlora.objectives import logprob_tiles

    sys.path.insert(0, str(Path(__file__).parent))
    from grpo_overhead import bare_trl, boostlora_round, fresh_model, problems

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    if side == "boostlora_before":
        logprob_tiles.CPU_TOKENS_PER_TILE = 1 << 30  # never smaller than TRL's own
    settings = argparse.Namespace(model=args.model, steps=args.steps, prompts=16, generations=4, completion=12, u=16,
                                  lr=1e-3, seed=0, drop_zero_variance=False, gradient_checkpointing=True)
    model, tokenizer = fresh_model(settings)
    torch.manual_seed(0)
    loaded = peak_rss_bytes()
    start_cpu = resource.getrusage(resource.RUSAGE_SELF)
    reset_peak()
    start = time.perf_counter()
    run = (bare_trl if side.startswith("bare_trl") else boostlora_round)(model, tokenizer, problems(32, 0), settings)
    used = resource.getrusage(resource.RUSAGE_SELF)
    return {"side": side, "peak_mb": peak_rss_bytes() / MIB, "loaded_mb": loaded / MIB,
            "round_s": time.perf_counter() - start, "per_step_s": run["per_step_s"],
            "cpu_s": used.ru_utime - start_cpu.ru_utime + used.ru_stime - start_cpu.ru_stime,
            "system_cpu_s": used.ru_stime - start_cpu.ru_stime,
            "cores_sha256": run.get("cores_sha256"), "parts_peak_mb": run.get("peak_rss_mb")}


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    base = next((r for r in rows if r["side"] == "bare_trl"), rows[0])  # ratios to bare TRL, else to the first side
    digests = {r["cores_sha256"] for r in rows if r["cores_sha256"]}
    lines = [
        (f"One GRPO round, {args.steps} steps x 16 prompts x 4 samples x 12 tokens, gradient checkpointing, fp32, "
         f"{args.threads} torch thread(s), {args.model}; each side in a fresh process, one after another."),
        "",
        f"| side | peak RSS over the round | / {base['side']} | after loading | CPU time over the round (of it system) | per step (wall) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['side']} | {r['peak_mb']:,.0f} MiB | {r['peak_mb'] / base['peak_mb']:.2f} | "
                     f"{r['loaded_mb']:,.0f} MiB | {r['cpu_s']:.1f} s ({r['system_cpu_s']:.1f} s) | {r['per_step_s']:.1f} s |")
    lines += ["", "boostlora sides' trained cores: " + ("bit-identical (one SHA-256)" if len(digests) == 1 else
                                                         f"{len(digests)} different digests")]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="smollm2-135m-instruct (default) or tiny")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sides", nargs="+", default=list(SIDES), choices=SIDES)
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)  # the child's half
    parser.add_argument("--markdown", help="also write the table here")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    if args.side:
        print(json.dumps(one_side(args.side, args)))
        return
    rows = []
    for side in args.sides:
        command = [sys.executable, __file__, "--side", side, "--model", args.model, "--steps", str(args.steps),
                   "--threads", str(args.threads)]
        env = run_environment(os.environ) if side in IN_RUN_ENVIRONMENT else dict(os.environ)
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            sys.exit(f"{side} failed:\n{done.stderr[-3000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"{side}: peak {rows[-1]['peak_mb']:,.0f} MiB, {rows[-1]['per_step_s']:.1f} s per step, "
              f"{rows[-1]['cpu_s']:.1f} s of CPU", file=sys.stderr, flush=True)
    publish(markdown(rows, args), rows, args.markdown, args.json)


if __name__ == "__main__":
    main()
