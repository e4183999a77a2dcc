"""When should rotate win? A controlled toy experiment: the mechanism, not evidence for real tasks.

A frozen random two-layer linear classifier (``hidden``: 16 -> 32, ``out``: 32 -> 32 classes) is boosted on its
``out`` layer only. The labels come from a teacher whose output weight is the student's plus a rank-R update
(R = 8 by default) written in the singular directions of the student's ORIGINAL output weight W = U S V^T:

    W_teacher = W + strength * S[0] * U[:, D] C V[:, D]^T,   C block-diagonal with random 2 x 2 blocks

- ``in-span``: D = the top R directions, the ones rotate (r = 2) reaches in its first R / r rounds, one block of
  2 per round. C is block-diagonal in the blocks rotate uses, because rotate's cumulative update is itself
  block-diagonal in that basis (round k trains only U_k A_k V_k^T): a core that mixes blocks is not reachable by
  rotate even inside the span, and is not tested here.
- ``out-of-span`` (the control): D = the bottom R directions, which neither top (always the first r) nor rotate
  (directions 1 .. r * rounds) reaches within its rounds.

Each run is a normal boosting run (cross-entropy rounds of 60 Adam steps, u = 4, failures as the training set,
merged as trained) through the public API; the task is registered with ``boostlora.register_plugin``. Per round it
records validation and held-out accuracy and the numerical rank of the cumulative update
(``rounds[k]["effective_rank"]["out"]``). Each strategy's learning rate is chosen on the VALIDATION split (a split
of its own, drawn after train and held-out): the rate of ``LR_GRID`` with the best mean validation accuracy after
the last round, in span, over the seeds (``--choose-lr`` reruns that choice); held-out accuracy is read once per
configuration, to report. Rotate minus top is paired by seed, with a 95% interval over seeds.

    python benchmarks/rotate_mechanism.py --choose-lr        # the learning rate of each strategy, on validation
    python benchmarks/rotate_mechanism.py --json benchmarks/data/rotate-mechanism/runs.json \
        --plot benchmarks/plots/rotate-mechanism.png         # 6 rounds, seeds 0-4: 20 runs, under a minute
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

import boostlora
from boostlora import ConfigError, Splits, Task, Verdict, hookimpl

DIM, HIDDEN, CLASSES = 16, 32, 32
CONDITIONS = ("in-span", "out-of-span")
STRATEGIES = ("rotate", "top")
LR_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)  # wide enough that neither choice sits on an edge
#: Each strategy's learning rate, chosen on validation by ``--choose-lr`` (see the module docstring).
CHOSEN_LR = {"rotate": 1.0, "top": 0.003}


class MechanismNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(DIM, HIDDEN)
        self.out = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(x))


def build_student(seed: int) -> MechanismNet:
    torch.manual_seed(seed)
    return MechanismNet()


class MechanismTask(Task):
    name = "rotate-mechanism"
    description = "teacher-student classification whose needed update is rank R, in or out of rotate's reach"
    default_model = "mechanism-net"
    default_targets = ("out",)
    default_objective = "cross_entropy"
    default_options: ClassVar[dict[str, Any]] = {"n_train": 1024, "n_eval": 1000, "n_validation": 500, "rank": 8, "condition": "in-span", "strength": 1.0,
                       "model_seed": 0}
    presets: ClassVar[dict[str, Any]] = {}

    def load_model(self, model: str, device: torch.device) -> nn.Module:
        if model != "mechanism-net":
            raise ConfigError(f"the mechanism task only knows model 'mechanism-net', not '{model}'")
        return build_student(self.options["model_seed"]).to(device)

    def teacher_weight(self) -> torch.Tensor:
        o = self.options
        W = build_student(o["model_seed"]).out.weight.detach()
        U, S, Vh = torch.linalg.svd(W, full_matrices=False)
        k = o["rank"]
        if o["condition"] not in CONDITIONS or k % 2:
            raise ConfigError(f"condition must be one of {CONDITIONS} and rank even, not {o['condition']}, {k}")
        directions = slice(0, k) if o["condition"] == "in-span" else slice(len(S) - k, len(S))
        g = torch.Generator().manual_seed(1000 + o["model_seed"])
        core = torch.block_diag(*[torch.randn(2, 2, generator=g) for _ in range(k // 2)])
        return W + o["strength"] * S[0] * U[:, directions] @ core @ Vh[directions]

    def load_splits(self, seed: int) -> Splits:
        g = torch.Generator().manual_seed(seed)
        n_train, n_eval = self.options["n_train"], self.options["n_eval"]
        x = torch.randn(n_train + n_eval, DIM, generator=g)
        x_validation = torch.randn(self.options["n_validation"], DIM, generator=g)  # drawn after: the rest unchanged
        examples = self.label(x)
        return Splits(train=examples[:n_train], eval=examples[n_train:], validation=self.label(x_validation))

    def label(self, x: torch.Tensor) -> list:
        student = build_student(self.options["model_seed"])
        with torch.no_grad():
            labels = (student.hidden(x) @ self.teacher_weight().T + student.out.bias).argmax(-1)
        return [(x[i], int(labels[i])) for i in range(len(x))]

    def predict(self, model: nn.Module, examples: Sequence) -> list[int]:
        weight = model.out.weight
        x = torch.stack([ex[0] for ex in examples]).to(weight.device, weight.dtype)
        return model(x).argmax(-1).tolist()

    def oracle(self, example, prediction) -> Verdict:
        return Verdict(prediction == example[1])

    def loss(self, model: nn.Module, examples: Sequence) -> torch.Tensor:
        weight = model.out.weight
        x = torch.stack([ex[0] for ex in examples]).to(weight.device, weight.dtype)
        y = torch.tensor([ex[1] for ex in examples], device=weight.device)
        return F.cross_entropy(model(x), y)


class MechanismPlugin:
    @hookimpl
    def boostlora_register_tasks(self, register) -> None:
        register(MechanismTask)


PLUGIN = "rotate-mechanism"


def register() -> None:
    """Register the task once per process (a second call is a no-op)."""
    from boostlora.contract.plugins import pm

    if pm.get_plugin(PLUGIN) is None:
        boostlora.register_plugin(MechanismPlugin(), name=PLUGIN)


def settings(strategy: str, condition: str, seed: int, rounds: int, lr: float) -> dict:
    return {
        "plugin": PLUGIN, "task": "rotate-mechanism", "strategy": strategy, "r": 2, "u": 4, "weight_tying": 0.0,
        "max_rounds": rounds, "seed": seed, "threads": 1, "device": "cpu", "show_progress": False,
        "save_final": False,
        "objective_options": {"lr": lr, "steps": 60, "batch_size": 64},
        "task_options": {"condition": condition, "model_seed": seed},
    }


def run_one(strategy: str, condition: str, seed: int, rounds: int, lr: float | None = None) -> dict:
    """One boosting run: base accuracy, then accuracy (held-out and validation) and the rank of the cumulative
    ``out`` update per round; ``lr`` defaults to the strategy's chosen rate."""
    from boostlora.foundation.config import build_config
    from boostlora.runs.lifecycle import boost

    register()
    started = time.perf_counter()
    lr = CHOSEN_LR[strategy] if lr is None else lr
    report = boost(build_config(settings(strategy, condition, seed, rounds, lr)))
    return {
        "strategy": strategy, "condition": condition, "seed": seed, "lr": lr,
        "base_accuracy": report["base_eval_accuracy"],
        "accuracy": [rec["eval_accuracy"] for rec in report["rounds"]],
        "validation": [rec["validation_accuracy"] for rec in report["rounds"]],
        "rank": [rec["effective_rank"]["out"] for rec in report["rounds"]],
        "seconds": round(time.perf_counter() - started, 1),
    }


def run_all(seeds: Sequence[int], rounds: int) -> list[dict]:
    runs = []
    for condition in CONDITIONS:
        for strategy in STRATEGIES:
            for seed in seeds:
                run = run_one(strategy, condition, seed, rounds)
                print(f"{condition:12} {strategy:6} seed {seed}: base {run['base_accuracy']:.3f} accuracy "
                      f"{' '.join(f'{a:.3f}' for a in run['accuracy'])} rank {run['rank']} ({run['seconds']} s)",
                      flush=True)
                runs.append(run)
    return runs


def choose_lr(seeds: Sequence[int], rounds: int) -> dict[str, float]:
    """Each strategy's rate of ``LR_GRID`` with the best mean validation accuracy after ``rounds``, in span."""
    chosen = {}
    for strategy in STRATEGIES:
        scores = {}
        for lr in LR_GRID:
            final = [run_one(strategy, "in-span", seed, rounds, lr)["validation"][-1] for seed in seeds]
            scores[lr] = sum(final) / len(final)
            print(f"{strategy:6} lr {lr:<6} mean validation accuracy after {rounds} rounds: {scores[lr]:.3f}", flush=True)
        chosen[strategy] = max(LR_GRID, key=lambda lr: (scores[lr], -lr))  # ties: the smaller rate
    print(f"chosen on validation: {chosen}")
    return chosen


def comparison(runs: list[dict]) -> str:
    """Rotate minus top, paired by seed, per condition: the mean final held-out difference and its 95% interval."""
    from boostlora.foundation.stats import outcome, paired_interval

    lines = []
    for condition in CONDITIONS:
        final = {s: {r["seed"]: r["accuracy"][-1] for r in runs if r["condition"] == condition and r["strategy"] == s}
                 for s in STRATEGIES}
        interval = paired_interval(final["rotate"], final["top"])
        lines.append(f"{condition}: rotate - top = {interval.describe()} over seeds {sorted(final['rotate'])}: "
                     f"{outcome(interval)}")
    return "\n".join(lines)


def table(runs: list[dict]) -> str:
    lines = ["| condition | method | final accuracy, mean (seeds) | base accuracy, mean | final rank, mean (seeds) |",
             "|---|---|---|---|---|"]
    for condition in CONDITIONS:
        for strategy in STRATEGIES:
            chosen = [r for r in runs if r["condition"] == condition and r["strategy"] == strategy]
            final = [r["accuracy"][-1] for r in chosen]
            rank = [r["rank"][-1] for r in chosen]
            base = sum(r["base_accuracy"] for r in chosen) / len(chosen)
            lines.append(
                f"| {condition} | {strategy} | {sum(final) / len(final):.3f} ({', '.join(f'{a:.3f}' for a in final)}) "
                f"| {base:.3f} | {sum(rank) / len(rank):.1f} ({', '.join(str(k) for k in rank)}) |")
    return "\n".join(lines)


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    colours = {"rotate": "tab:blue", "top": "tab:orange"}
    for col, condition in enumerate(CONDITIONS):
        for row, (key, label) in enumerate((("accuracy", "held-out accuracy"), ("rank", "rank of the cumulative update"))):
            ax = axes[row][col]
            for strategy in STRATEGIES:
                chosen = [r for r in runs if r["condition"] == condition and r["strategy"] == strategy]
                series = [([r["base_accuracy"]] if key == "accuracy" else [0]) + r[key] for r in chosen]
                x = list(range(len(series[0])))
                by_round = list(zip(*series))
                mean = [sum(v) / len(v) for v in by_round]
                ax.plot(x, mean, marker="o", color=colours[strategy], label=f"{strategy} (mean of {len(chosen)} seeds)")
                ax.fill_between(x, [min(v) for v in by_round], [max(v) for v in by_round], color=colours[strategy],
                                alpha=0.2)
            ax.set_title(f"{condition}: {label}")
            ax.set_xlabel("rounds merged (0 = base model)")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle("Toy mechanism: needed update of rank 8, r = 2 per round (band: min-max over seeds)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--choose-lr", action="store_true", help="choose each strategy's rate on validation, then stop")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--json", type=Path, help="write every run's per-round accuracy and rank here")
    parser.add_argument("--plot", type=Path, help="write the 2 x 2 figure here (matplotlib)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.choose_lr:
        choose_lr(args.seeds, args.rounds)
        return
    runs = run_all(args.seeds, args.rounds)
    print()
    print(table(runs))
    print(comparison(runs))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"seeds": args.seeds, "rounds": args.rounds, "runs": runs}, indent=1) + "\n")
    if args.plot:
        plot(runs, args.plot)


if __name__ == "__main__":
    main(sys.argv[1:])
