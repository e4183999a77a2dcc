"""How far a randomized truncated SVD's rotate blocks are from the exact ones, on SmolLM2-135M-Instruct.

Rotate's claim is about the exact singular blocks of the original weights. This script measures, over every
target module of the offline default model, what `torch.svd_lowrank` (16 extra directions, 6 power iterations:
the settings boostlora once used by default) returns for the first ``rounds`` blocks of r=2 directions, against
the exact LAPACK SVD:

- per block: the smallest cosine of the principal angles between the randomized and the exact block (1 = same
  subspace), worst module and median module;
- the largest relative error of the singular values;
- the triplet residual ``max(|W v - s u|, |W^T u - s v|) / s_max`` of both, which is what ``svd=lowrank`` checks
  before it keeps a randomized result (``boostlora.method.subspace.LOWRANK_TOLERANCE``).

    python benchmarks/svd_blocks.py --rounds 8
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from boostlora.method.adapter import resolve_targets
from boostlora.lm.causal_lm import OFFLINE_DEFAULT, load_causal_lm
from boostlora.method.subspace import LOWRANK_ITERATIONS, LOWRANK_OVERSAMPLE, LOWRANK_TOLERANCE, canonical_signs, triplet_residual

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def block_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Smallest cosine of the principal angles between the column spans of ``a`` and ``b``."""
    return float(torch.linalg.svdvals(a.double().T @ b.double()).min())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--r", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, _ = load_causal_lm(OFFLINE_DEFAULT, torch.device("cpu"))
    targets = resolve_targets(model, TARGETS)
    k = args.rounds * args.r
    cosines: list[list[float]] = [[] for _ in range(args.rounds)]
    value_errors, exact_residuals, random_residuals = [], [], []
    exact_seconds = random_seconds = 0.0
    for name in targets:
        w = model.get_submodule(name).weight.detach().float()
        start = time.perf_counter()
        U, S, Vh = torch.linalg.svd(w, full_matrices=False)
        exact_seconds += time.perf_counter() - start
        exact = canonical_signs(U[:, :k], S[:k], Vh.mT[:, :k])
        start = time.perf_counter()
        Ur, Sr, Vr = torch.svd_lowrank(w, q=min(k + LOWRANK_OVERSAMPLE, min(w.shape)), niter=LOWRANK_ITERATIONS)
        random_seconds += time.perf_counter() - start
        randomized = canonical_signs(Ur[:, :k], Sr[:k], Vr[:, :k])
        for b in range(args.rounds):
            block = slice(b * args.r, (b + 1) * args.r)
            cosines[b].append(block_cosine(exact.U[:, block], randomized.U[:, block]))
        value_errors.append(float(((randomized.S - exact.S).abs() / exact.S).max()))
        exact_residuals.append(triplet_residual(w, exact))
        random_residuals.append(triplet_residual(w, randomized))
    print(f"SmolLM2-135M-Instruct, {len(targets)} target modules, {k} components (r={args.r} x {args.rounds} blocks), "
          f"torch threads {torch.get_num_threads()}")
    print()
    print("| block | worst-module cosine (randomized vs exact) | median-module cosine |")
    print("|---|---|---|")
    for b, values in enumerate(cosines):
        print(f"| {b} | {min(values):.3f} | {statistics.median(values):.4f} |")
    print()
    print(f"- largest relative singular-value error of the randomized SVD: {max(value_errors):.2%}")
    print(f"- triplet residual, exact SVD: max {max(exact_residuals):.1e}; randomized: median "
          f"{statistics.median(random_residuals):.1e}, max {max(random_residuals):.1e} "
          f"(the check keeps a randomized module only below {LOWRANK_TOLERANCE:.0e}; "
          f"{sum(r > LOWRANK_TOLERANCE for r in random_residuals)} of {len(targets)} modules would fall back)")
    print(f"- time: exact {exact_seconds:.1f} s, randomized {random_seconds:.1f} s")


if __name__ == "__main__":
    main()
