"""Raw vs matched block scale under ROTATE, side by side on the same task, seeds and step budget.

    python benchmarks/block_scale.py --plugin protein [--seeds 0 1 2] [KEY=VALUE ...]

Runs `rotate` with `block_scale=raw` and `block_scale=matched` (and `top` for reference) for each seed and
prints held-out accuracy per round and its mean over seeds. Any run setting can be overridden.
"""

from __future__ import annotations

import argparse
import json
import statistics

from boostlora.foundation.config import build_config, merge_settings, parse_override
from boostlora.runs.lifecycle import boost
from boostlora.contract.plugins import find_task

ARMS = {"rotate-raw": {"strategy": "rotate", "block_scale": "raw"},
        "rotate-matched": {"strategy": "rotate", "block_scale": "matched"},
        "top": {"strategy": "top", "block_scale": "raw"}}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", required=True)
    parser.add_argument("--task")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    task_cls = find_task(args.plugin, args.task)
    base = merge_settings({"plugin": args.plugin, "task": args.task}, task_cls.presets.get(args.preset, {}), "preset")
    base = merge_settings(base, dict(parse_override(o) for o in args.overrides), "command line")
    results: dict = {}
    for arm, changes in ARMS.items():
        curves = []
        for seed in args.seeds:
            report = boost(build_config({**merge_settings(base, changes, arm), "seed": seed, "show_progress": False}))
            curves.append([report["base_eval_accuracy"]] + [r["eval_accuracy"] for r in report["rounds"]])
        length = min(map(len, curves))
        mean = [statistics.mean(c[i] for c in curves) for i in range(length)]
        results[arm] = {"per_seed": curves, "mean": mean}
        print(f"{arm:<15} mean held-out accuracy by rounds merged: {' '.join(f'{a:.3f}' for a in mean)}", flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return results


if __name__ == "__main__":
    main()
