"""Accuracy per round on the synthetic binding task: rotate vs top vs the linear probe alone.

The base evaluation of every run is the linear probe alone (the head is fitted on the frozen encoder before
round 0), so one rotate run and one top run give all three rows. Settings are the protein task's
``default`` preset unless overridden, e.g.

    python benchmarks/protein_rounds.py --rounds 8 --set objective_options.lr=0.02 --set step_sizes=[0,0.5,1]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from boostlora.foundation.config import build_config, merge_settings, parse_override
from boostlora.runs.lifecycle import boost
from boostlora_plugins.protein.task import ProteinTask


def run(strategy: str, rounds: int, overrides: list[str], seed: int) -> dict:
    settings = merge_settings({"plugin": "protein"}, ProteinTask.presets["default"], "preset default")
    settings = merge_settings(settings, {"strategy": strategy, "max_rounds": rounds, "seed": seed, "show_progress": False}, "benchmark")
    settings = merge_settings(settings, dict(parse_override(o) for o in overrides), "--set")
    started = time.perf_counter()
    report = boost(build_config(settings), None)
    report["wall_seconds"] = time.perf_counter() - started
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--strategies", nargs="+", default=["rotate", "top"])
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE run setting (repeatable)")
    parser.add_argument("--json", help="write the per-round numbers here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    for seed in args.seeds:
        for strategy in args.strategies:
            report = run(strategy, args.rounds, args.set, seed)
            evals = [report["base_eval_accuracy"]] + [r["eval_accuracy"] for r in report["rounds"]]
            trains = [r["train_accuracy"] for r in report["rounds"]]
            ranks = [max(r["effective_rank"].values()) for r in report["rounds"]]
            results[f"{strategy}/seed{seed}"] = {"eval": evals, "train_before_round": trains, "rank": ranks,
                                                "auroc_final": (report["rounds"][-1]["eval_metrics"] if report["rounds"] else report["base_eval_metrics"]).get("auroc"),
                                                "seconds": round(report["wall_seconds"], 1), "stop": report["stop_reason"]}
            print(f"{strategy:>6} seed {seed}: probe {evals[0]:.3f} | rounds " + " ".join(f"{a:.3f}" for a in evals[1:])
                  + f" | rank {ranks[-1] if ranks else 0} | {report['wall_seconds']:.0f}s", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"settings": args.set, "results": results}, fh, indent=1)


if __name__ == "__main__":
    main()
