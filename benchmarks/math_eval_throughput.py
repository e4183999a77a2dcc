"""Evaluation throughput of the math task: batched greedy generation vs a one-example-at-a-time loop.

Every boosting round evaluates the whole training split, so this is the method's main cost (the paper says
so). Same 64 problems of the default task, same model (the offline SmolLM2-135M-Instruct), same prompts and
max_new_tokens; tokens are counted by re-tokenising each completion, identically for both sides.

    OMP_NUM_THREADS=1 python benchmarks/math_eval_throughput.py [--n 64] [--batch-size 64] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from boostlora.lm.generation import generate, render_prompt
from boostlora_plugins.math.presets import DEFAULT_TASK
from boostlora_plugins.math.task import MathTask


def one_at_a_time(model, tokenizer, prompts, max_new_tokens: int) -> list[str]:
    """The naive evaluator: one ``model.generate`` call per problem, no padding, no batching."""
    out = []
    for prompt in prompts:
        ids = tokenizer(render_prompt(tokenizer, prompt), add_special_tokens=False, return_tensors="pt")
        with torch.inference_mode():
            gen = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, temperature=None, top_p=None,
                                 top_k=None, pad_token_id=tokenizer.pad_token_id)
        out.append(tokenizer.decode(gen[0, ids["input_ids"].shape[1]:], skip_special_tokens=True))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args()

    task = MathTask({**DEFAULT_TASK, "train_size": args.n})
    model = task.load_model("smollm2-135m-instruct", torch.device("cpu"))
    examples = task.load_splits(0).train[: args.n]
    prompts = [task.prompt(ex) for ex in examples]
    max_new = task.options["max_new_tokens"]

    def tokens(texts: list[str]) -> int:
        return sum(len(task.tokenizer(t, add_special_tokens=False)["input_ids"]) + 1 for t in texts)  # +1: EOS

    results = {}
    for name, fn in [
        ("batched", lambda: generate(model, task.tokenizer, prompts, max_new_tokens=max_new, batch_size=args.batch_size, show_progress=False)),
        ("one_at_a_time", lambda: one_at_a_time(model, task.tokenizer, prompts, max_new)),
    ]:
        started = time.perf_counter()
        texts = fn()
        seconds = time.perf_counter() - started
        results[name] = {"seconds": seconds, "tokens": tokens(texts), "tokens_per_s": tokens(texts) / seconds,
                         "examples_per_s": len(texts) / seconds,
                         "accuracy": sum(task.oracle(e, t).correct for e, t in zip(examples, texts)) / len(texts), "texts": texts}
    same = sum(a == b for a, b in zip(results["batched"]["texts"], results["one_at_a_time"]["texts"]))
    summary = {
        "n": args.n, "batch_size": args.batch_size, "threads": torch.get_num_threads(), "identical_outputs": same,
        "speedup": results["batched"]["tokens_per_s"] / results["one_at_a_time"]["tokens_per_s"],
        **{k: {m: v for m, v in r.items() if m != "texts"} for k, r in results.items()},
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
