"""How to fit the protein head: logistic regression (scikit-learn) vs full-batch cross-entropy steps.

Fits each on the frozen encoder's pooled train features of the synthetic task and reports held-out accuracy
(the linear-probe baseline every run starts from), AUROC, fit seconds and the head's parameter count.

    python benchmarks/protein_head.py [--seeds 0 1 2] [--model tiny-random-esm2]
"""

from __future__ import annotations

import argparse
import time

import torch

from boostlora_plugins.protein.task import ProteinTask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--model", default="tiny-random-esm2")
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.1, 1.0, 10.0])
    args = parser.parse_args()
    torch.set_num_threads(1)
    for mode in ("logistic", "cross_entropy"):
        for strength in args.strengths:
            accs, aurocs, seconds = [], [], []
            for seed in args.seeds:
                task = ProteinTask({"head": mode, "head_strength": strength})
                splits = task.load_splits(seed)
                model = task.load_model(args.model, torch.device("cpu"))
                started = time.perf_counter()
                task.prepare(model, splits)
                seconds.append(time.perf_counter() - started)
                metrics = task.evaluate(model, splits.eval).metrics
                accs.append(metrics["accuracy"])
                aurocs.append(metrics["auroc"])
            print(f"{mode:>13} C={strength:<5} held-out acc " + " ".join(f"{a:.3f}" for a in accs)
                  + f" (mean {sum(accs) / len(accs):.3f}), auroc mean {sum(aurocs) / len(aurocs):.3f}, "
                  f"fit {sum(seconds) / len(seconds):.2f}s, head params {task.head_params}", flush=True)


if __name__ == "__main__":
    main()
