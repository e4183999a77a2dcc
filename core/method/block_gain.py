"""``block_scale='gain'``: every rotate block moves the model as much as the top block, on the task's own inputs.

A round's update on module m is ``B_k R(v) A_k`` with ``B_k = U_k diag(s_k)`` and ``A_k = V_k^T``; for an input x
its output is ``B_k R A_k x``. How far one unit of v moves the model therefore scales with the block's *gain*

    G_k = sqrt( mean over the task's input tokens of |diag(s_k) V_k^T x|^2 )

which falls down the spectrum for two reasons: smaller singular values (``block_scale='matched'`` undoes only
this one) and less of the task's activation in the block's input directions. Under Adam every number in v moves
by about ``lr`` per step whatever its gradient's size, so a block with half the gain gets half the move for the
same steps. Measured on SmolLM2-135M with the math task's prompts (``benchmarks/block_gain.py``), block 1's gain
is 0.52 of block 0's and blocks 2-7 sit near 0.42-0.46 even after singular-value matching.

``block_scale='gain'`` rescales block k of each module by ``G_0 / G_k`` (raw singular values), measured once on a
seeded sample of the training split with the original model, before round 0. Block 0 is left as it is, so round
0 and ``strategy=top`` are unchanged. The factors are kept in the checkpoint: a resumed run reuses them instead of
measuring a model that has already moved.

Input activations are read with forward pre-hooks while the task judges the sample through ``evaluate``: any
task's own forward passes (prompts and generated tokens for a language model, sequences for a classifier) are the
inputs the adapter will see, and no task has to expose them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from boostlora.contract.evaluation import evaluate
from boostlora.foundation import distributed
from boostlora.foundation.errors import BoostLoraError
from boostlora.method.subspace import Basis

#: Training examples the gains are measured on (a seeded sample when the split is larger).
CALIBRATION_EXAMPLES = 64
#: Largest factor a block may be scaled by: a block the task's inputs barely reach would otherwise get a huge scale
#: from a ratio of two small numbers.
MAX_GAIN_FACTOR = 10.0


def input_energy(
    model: nn.Module, bases: dict[str, Basis], run_forward: Callable[[], Any]
) -> dict[str, torch.Tensor]:
    """Per module, the mean over input tokens of ``(V^T x)_i^2`` for every basis component i, while ``run_forward``
    runs. Across processes the sums and token counts are added over ranks (each judges its own shard)."""
    sums = {name: torch.zeros(basis.components, dtype=torch.float64) for name, basis in bases.items()}
    counts = {name: 0 for name in bases}

    def recorder(name: str) -> Callable[..., None]:
        V = bases[name].V

        def hook(module: nn.Module, inputs: tuple[Any, ...]) -> None:
            x = inputs[0].detach().reshape(-1, V.shape[0]).to(V.device, V.dtype)
            sums[name] += ((x @ V) ** 2).sum(dim=0).double().cpu()
            counts[name] += x.shape[0]

        return hook

    handles = [model.get_submodule(name).register_forward_pre_hook(recorder(name)) for name in bases]
    try:
        run_forward()
    finally:
        for handle in handles:
            handle.remove()
    if distributed.world_size() > 1:
        gathered = distributed.all_gather((sums, counts))
        sums = {name: sum(s[name] for s, _ in gathered) for name in bases}
        counts = {name: sum(c[name] for _, c in gathered) for name in bases}
    empty = [name for name, n in counts.items() if n == 0]
    if empty:
        raise BoostLoraError(
            f"block_scale=gain: {len(empty)} target module(s) saw no input while the task judged its training sample "
            f"(first: {empty[0]}); use block_scale=matched, or targets the task's forward pass reaches"
        )
    return {name: sums[name] / counts[name] for name in bases}


def gain_factors(bases: dict[str, Basis], energy: dict[str, torch.Tensor], r: int) -> dict[str, torch.Tensor]:
    """Per module, one factor per block of r components: ``G_0 / G_k`` with raw singular values, clamped to
    ``MAX_GAIN_FACTOR`` (1 for block 0)."""
    factors = {}
    for name, basis in bases.items():
        blocks = basis.components // r
        e = energy[name][: blocks * r].reshape(blocks, r)
        s = basis.S.double()[: blocks * r].reshape(blocks, r)
        gains = (e * s**2).sum(dim=1).sqrt()
        tiny = torch.finfo(torch.float64).tiny
        factor = (gains[0] / gains.clamp_min(tiny)).clamp(max=MAX_GAIN_FACTOR)
        factor[0] = 1.0
        factors[name] = factor.float()
    return factors


def calibration_sample(train: Sequence[Any], seed: int) -> list[Any]:
    """The training examples the gains are measured on: all of them, or a seeded sample of ``CALIBRATION_EXAMPLES``."""
    if len(train) <= CALIBRATION_EXAMPLES:
        return list(train)
    indices = sorted(random.Random(seed).sample(range(len(train)), CALIBRATION_EXAMPLES))
    return [train[i] for i in indices]


def summary(factors: dict[str, torch.Tensor]) -> list[float]:
    """The median factor over modules, per block: what the report shows."""
    stacked = torch.stack(list(factors.values()))
    return [round(float(v), 4) for v in stacked.median(dim=0).values]


def calibrate(task: Any, model: nn.Module, bases: dict[str, Basis], r: int, train: Sequence[Any], seed: int) -> dict[str, torch.Tensor]:
    """The factors of every module's blocks, measured while ``task`` judges a sample of its training split."""
    sample = calibration_sample(train, seed)
    energy = input_energy(model, bases, lambda: evaluate(task, model, sample))
    return gain_factors(bases, energy, r)
