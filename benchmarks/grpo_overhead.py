"""What boostlora's ``grpo`` objective adds to a bare TRL GRPO round, side by side in one process.

The same round two ways, on the same model, prompts, reward, seed and step count, alternating A B B A after a
one-step warm-up of each (the first round in a process pays lazy imports), a fresh model for every run:

(a) **bare TRL**: ``GRPOTrainer(model, reward_funcs, args=GRPOConfig(...), peft_config=TinyLoraConfig(...))``, as
    TRL's and peft's docs show; peft injects TinyLoRA itself (with its own SVD of every wrapped weight);
(b) **boostlora**: ``attach_round_adapter`` (the loop's round adapter on a precomputed SVD block), then
    ``GRPO(options).train(ctx)``, which builds its own GRPOTrainer subclass around that model.

Both use the settings that decide a step's compute alike (batch, group size, completion length, temperature,
beta=0, gradient checkpointing off, fp32, one torch thread). Settings that change only a handful of scalars'
arithmetic are left at each side's default and listed in the output (optimizer flavour, schedule, loss
aggregation). Dynamic sampling (``drop_zero_variance``) is off on side (b) by default so both compute the
loss on the same rows; ``--drop-zero-variance`` measures the default instead.

Per step is the training loop's wall time (``trainer.train()`` on (a); the objective's time less its setup on
(b)) over the steps; setup is the trainer construction (and adapter injection). The parts of (b) come from the
objective's own time split (``core/objectives/grpo_timing.py``); TRL's own ``step_time`` (generation, reward,
forward and backward) is reported for (a).

    python benchmarks/grpo_overhead.py [--model smollm2-135m-instruct] [--steps 3] [--repeats 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
import warnings
from typing import Any

import torch

from boostlora import RoundContext
from boostlora.method.adapter import attach_round_adapter, resolve_targets
from boostlora.lm.causal_lm import OFFLINE_DEFAULT, load_causal_lm
from boostlora.objectives.grpo import GRPO, completion_text, trl_prompt
from boostlora.method.subspace import SubspaceAllocator

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def problems(n: int, seed: int) -> list[tuple[str, int]]:
    """Two-digit additions: the prompt and its answer (the reward checks the answer appears)."""
    rng = random.Random(seed)
    pairs = [(rng.randint(10, 99), rng.randint(10, 99)) for _ in range(n)]
    return [(f"What is {a} + {b}? Answer with the number only.", a + b) for a, b in pairs]


def score(answer: int, completion: Any) -> float:
    return 1.0 if str(answer) in completion_text(completion) else 0.0


class Addition:
    """The generative task side (b) trains on: the same prompts and reward as side (a)."""

    name = "addition"

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def prompt(self, example: tuple[str, int]) -> str:
        return example[0]

    def reward(self, example: tuple[str, int], completion: str) -> float:
        return score(example[1], completion)


def bare_trl(model: Any, tokenizer: Any, data: list[tuple[str, int]], args: argparse.Namespace) -> dict[str, float]:
    """Side (a): TRL and peft configured by hand; returns setup and training-loop seconds."""
    from datasets import Dataset
    from peft import TinyLoraConfig
    from trl import GRPOConfig, GRPOTrainer

    answers = {p: a for p, a in data}

    def reward(prompts: list[Any], completions: list[Any], answer: list[int], **_: Any) -> list[float]:
        return [score(a, c) for a, c in zip(answer, completions)]

    start = time.perf_counter()
    dataset = Dataset.from_dict({"prompt": [trl_prompt(tokenizer, p) for p, _ in data], "answer": [answers[p] for p, _ in data]})
    with tempfile.TemporaryDirectory() as tmp:
        config = GRPOConfig(
            output_dir=tmp, report_to="none", save_strategy="no", logging_steps=1, disable_tqdm=True,
            max_steps=args.steps, learning_rate=args.lr, per_device_train_batch_size=args.prompts * args.generations,
            num_generations=args.generations, max_completion_length=args.completion, temperature=1.0, beta=0.0,
            gradient_checkpointing=getattr(args, "gradient_checkpointing", False), seed=args.seed, use_cpu=True, bf16=False,
        )
        peft_config = TinyLoraConfig(r=2, u=args.u, target_modules=TARGETS, init_weights=True)
        trainer = GRPOTrainer(model=model, reward_funcs=reward, args=config, train_dataset=dataset,
                              processing_class=tokenizer, peft_config=peft_config)
        setup = time.perf_counter() - start
        start = time.perf_counter()
        trainer.train()
        loop = time.perf_counter() - start
    step_times = [row["step_time"] for row in trainer.state.log_history if "step_time" in row]
    return {"setup_s": setup, "loop_s": loop, "per_step_s": loop / args.steps,
            "trl_step_time_s": statistics.mean(step_times) if step_times else float("nan"),
            "steps": trainer.state.global_step}


def boostlora_round(model: Any, tokenizer: Any, data: list[tuple[str, int]], args: argparse.Namespace) -> dict[str, Any]:
    """Side (b): the loop's round adapter and the ``grpo`` objective; returns setup, loop and its time split."""
    targets = resolve_targets(model, TARGETS)
    start = time.perf_counter()
    allocator = SubspaceAllocator.from_model(model, targets, strategy="rotate", r=2, max_rounds=4, block_scale="matched")
    svd = time.perf_counter() - start
    start = time.perf_counter()
    adapter = attach_round_adapter(model, targets, allocator, round_index=0, r=2, u=args.u, weight_tying=0.0, seed=args.seed)
    attach = time.perf_counter() - start
    objective = GRPO({"lr": args.lr, "steps": args.steps, "prompts_per_step": args.prompts, "num_generations": args.generations,
                      "max_completion_length": args.completion, "warmup_steps": 0, "beta": 0.0,
                      "drop_zero_variance": args.drop_zero_variance,
                      "gradient_checkpointing": getattr(args, "gradient_checkpointing", False)})
    task = Addition(tokenizer)
    ctx = RoundContext(adapter.model, task, data, adapter.trainable, round=0, seed=args.seed, device=torch.device("cpu"),
                       show_progress=False)
    start = time.perf_counter()
    result = objective.train(ctx)
    total = time.perf_counter() - start
    parts = result.seconds_by_phase
    loop = total - parts["setup"]
    return {"svd_s": svd, "attach_s": attach, "setup_s": attach + parts["setup"], "loop_s": loop,
            "per_step_s": loop / args.steps, "steps": result.steps, "parts": parts,
            "peak_rss_mb": result.peak_rss_mb_by_phase, "cores_sha256": cores_digest(adapter.trainable)}


def cores_digest(trainable: list[torch.Tensor]) -> str:
    """SHA-256 of the trained cores' bytes: equal digests are bit-identical rounds."""
    digest = hashlib.sha256()
    for tensor in trainable:
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def fresh_model(args: argparse.Namespace) -> tuple[Any, Any]:
    if args.model == "tiny":
        return tiny_model()
    model, tokenizer = load_causal_lm(args.model, torch.device("cpu"))
    model.requires_grad_(False)
    return model, tokenizer


def tiny_model() -> tuple[Any, Any]:
    """A random-init two-layer Llama over SmolLM2's tokenizer (smoke runs of this script)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    _, tokenizer = load_causal_lm(OFFLINE_DEFAULT, torch.device("cpu"))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False)
    model = LlamaForCausalLM(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.requires_grad_(False)
    return model, tokenizer


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def markdown(results: dict[str, Any]) -> str:
    a, b, cfg = results["bare_trl"], results["boostlora"], results["config"]
    lines = [
        f"GRPO round on {cfg['model']}, {cfg['steps']} steps x {cfg['prompts']} prompts x {cfg['generations']} samples, "
        f"{cfg['completion']} tokens, medians of {cfg['repeats']} alternating repeats, {cfg['threads']} torch thread(s)",
        "",
        "| | bare TRL (a) | boostlora grpo (b) | (b) / (a) |",
        "|---|---|---|---|",
        f"| per step (training loop / steps) | {a['per_step_s']:.2f} s | {b['per_step_s']:.2f} s | {results['per_step_ratio']:.3f} |",
        f"| setup (adapter injection + trainer) | {a['setup_s']:.2f} s | {b['setup_s']:.2f} s | {b['setup_s'] / a['setup_s']:.3f} |",
        f"| round (setup + loop) | {a['setup_s'] + a['loop_s']:.2f} s | {b['setup_s'] + b['loop_s']:.2f} s | "
        f"{(b['setup_s'] + b['loop_s']) / (a['setup_s'] + a['loop_s']):.3f} |",
        "",
        "Per-step ratio of each repeat's back-to-back pair: " + ", ".join(f"{r:.3f}" for r in results["paired_per_step_ratios"]) + ".",
        "",
        f"TRL's own step_time (generation, reward, forward, backward; no optimizer): (a) {a['trl_step_time_s']:.2f} s per step, "
        f"(b) {b['trl_step_time_s']:.2f} s (generation + reward + scoring_logprobs + loss_backward). "
        f"(b) also needs the one-time SVD of the run: {b['svd_s']:.2f} s, paid once per run, not per round.",
        "",
        "| (b) part of the round | seconds | per step |",
        "|---|---|---|",
    ]
    steps = cfg["steps"]
    lines += [f"| {name} | {seconds:.3f} | {seconds / steps:.3f} |" for name, seconds in b["parts"].items()]
    lines += ["", "Settings left at each side's default (a handful of scalars, no change in compute): "
              "optimizer (TRL: fused AdamW, linear decay; boostlora: AdamW, constant after warm-up), "
              "loss aggregation (TRL: dapo; boostlora: grpo)."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=OFFLINE_DEFAULT, help=f"{OFFLINE_DEFAULT} (default) or tiny (random two-layer Llama)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="alternating A B / B A repeats; medians are reported")
    parser.add_argument("--prompts", type=int, default=4, help="prompts per step")
    parser.add_argument("--generations", type=int, default=4, help="samples per prompt")
    parser.add_argument("--completion", type=int, default=12, help="max completion tokens")
    parser.add_argument("--u", type=int, default=16, help="TinyLoRA u per module (the default job's 16)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--drop-zero-variance", action="store_true", help="side (b) with dynamic sampling on (its default)")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    data = problems(args.prompts * 2, args.seed)
    sides = {"bare_trl": bare_trl, "boostlora": boostlora_round}

    def one(side: str, settings: argparse.Namespace) -> dict[str, Any]:
        model, tokenizer = fresh_model(args)
        torch.manual_seed(args.seed)
        run = sides[side](model, tokenizer, data, settings)
        log(f"  {side}: per step {run['per_step_s']:.2f} s, setup {run['setup_s']:.2f} s")
        return run

    # a one-step round of each side first, not counted: the first round in a process pays lazy imports and warm-up
    log("warm-up (not counted)")
    for side in sides:
        one(side, argparse.Namespace(**{**vars(args), "steps": 1}))
    runs: dict[str, list[dict[str, Any]]] = {"bare_trl": [], "boostlora": []}
    for repeat in range(args.repeats):
        log(f"repeat {repeat}")
        for side in (("bare_trl", "boostlora") if repeat % 2 == 0 else ("boostlora", "bare_trl")):
            runs[side].append(one(side, args))
    a = {key: median_of(runs["bare_trl"], key) for key in ("setup_s", "loop_s", "per_step_s", "trl_step_time_s")}
    b = {key: median_of(runs["boostlora"], key) for key in ("svd_s", "attach_s", "setup_s", "loop_s", "per_step_s")}
    b["parts"] = {name: statistics.median(run["parts"][name] for run in runs["boostlora"]) for name in runs["boostlora"][0]["parts"]}
    b["trl_step_time_s"] = sum(b["parts"][k] for k in ("generation", "reward", "scoring_logprobs", "loss_backward")) / args.steps
    results = {
        "config": {"model": args.model, "steps": args.steps, "prompts": args.prompts, "generations": args.generations,
                   "completion": args.completion, "u": args.u, "repeats": args.repeats, "threads": torch.get_num_threads(),
                   "drop_zero_variance": args.drop_zero_variance},
        "bare_trl": a, "boostlora": b, "per_step_ratio": b["per_step_s"] / a["per_step_s"],
        # each repeat's two runs ran back to back: their ratio is the least exposed to the machine's load drifting
        "paired_per_step_ratios": [rb["per_step_s"] / ra["per_step_s"] for ra, rb in zip(runs["bare_trl"], runs["boostlora"])],
        "runs": runs,
    }
    print(markdown(results))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
