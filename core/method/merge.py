"""The merge protocol: fold a trained round into the weights, prove it, and forget the adapter.

For each target module the round's update is dW = U_k M_k V_k^T, where (U_k, V_k) are the round's orthonormal
singular directions and M_k = U_k^T dW V_k is its r x r core. We record M_k rather than dW: it is all the
round learned, it makes checkpoints tiny, and stacking cores gives the rank of the cumulative update exactly
(the singular values of sum_k U_k M_k V_k^T are those of the core matrix on the union of blocks).

Weights are updated as W <- cast(fp32(W) + dW) with dW formed in fp32. For an fp32 model the only error is
fp32 rounding of the sum (|err| <= 2^-24 |W + dW| elementwise); for bf16/fp16 the single cast adds at most
half an ulp of the result: |err| <= 2^-8 |W + dW| (bf16) or 2^-11 |W + dW| (fp16) elementwise, once per round,
instead of the compounding error of adding a low-precision dW to low-precision weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from boostlora.foundation.errors import MergeError
from boostlora.method.adapter import ADAPTER_NAME, RoundAdapter
from boostlora.method.subspace import SubspaceAllocator, block_slice

PROBE_ROWS = 8
#: Unit roundoff of each weight dtype. A low-precision layer computes its output with that rounding both before
#: (adapted) and after (merged) the merge, so the two differ by a few units even when the merge is exact.
ROUNDOFF = {torch.float32: 2.0**-24, torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11}
#: How many units of roundoff the merge check allows a low-precision layer (bf16: 1.6e-2; measured on the tiny
#: test models: 3.3e-3 to 3.4e-3, see tests/core/test_bf16.py).
ROUNDOFF_UNITS = 4


def merge_bound(dtype: torch.dtype, tolerance: float) -> float:
    """The largest relative gap the merge check accepts for weights of ``dtype``: ``merge_tolerance``, or a few
    units of the dtype's roundoff where that is larger (bf16 and fp16 layers cannot agree to 1e-4 with themselves)."""
    return max(tolerance, ROUNDOFF_UNITS * ROUNDOFF.get(dtype, 0.0))


def apply_core(weight: torch.Tensor, U: torch.Tensor, core: torch.Tensor, V: torch.Tensor) -> None:
    """W <- cast(fp32(W) + U core V^T). The live merge and a resumed run's replay both call exactly this."""
    U, core, V = (t.to(device=weight.device, dtype=torch.float32) for t in (U, core, V))
    delta = (U @ core) @ V.mT
    weight.data.copy_((weight.data.float() + delta).to(weight.dtype))


@dataclass
class MergeResult:
    model: nn.Module
    cores: dict[str, torch.Tensor]  # module name -> this round's r x r core (fp32, cpu)
    max_relative_gap: float


def merge_round(adapter: RoundAdapter, allocator: SubspaceAllocator, tolerance: float, seed: int = 0) -> MergeResult:
    """Merge the round's adapter into the weights, check every layer on a probe batch, and unload peft.

    The probe is a random batch pushed through each adapted layer before the merge and through the plain
    layer after it; layer-level probes need no task inputs and localise a failure to the module that caused it.
    """
    generator = torch.Generator().manual_seed(seed)
    cores: dict[str, torch.Tensor] = {}
    worst = 0.0
    for name, layer in adapter.layers.items():
        base = layer.get_base_layer()
        weight = base.weight
        U, V = allocator.directions(name, adapter.round)
        U = U.to(device=weight.device, dtype=torch.float32)
        V = V.to(device=weight.device, dtype=torch.float32)
        with torch.no_grad():
            delta = layer.get_delta_weight(ADAPTER_NAME).float()
            core = U.mT @ delta @ V
            probe = torch.randn(PROBE_ROWS, base.in_features, generator=generator).to(weight.device, weight.dtype)
            adapted = layer(probe).float()
            apply_core(weight, U, core, V)
            merged = base(probe).float()
        gap = ((adapted - merged).norm() / adapted.norm().clamp_min(1e-12)).item()
        worst = max(worst, gap)
        bound = merge_bound(weight.dtype, tolerance)
        if not gap <= bound:
            raise MergeError(
                f"round {adapter.round}: merged {name} differs from the adapted layer by {gap:.2e} (relative), "
                f"above {bound:.2g} (merge_tolerance={tolerance:g} for {str(weight.dtype).removeprefix('torch.')} weights)"
            )
        cores[name] = core.detach().cpu()
    model = adapter.model.unload()
    return MergeResult(model, cores, worst)


def replay_round(model: nn.Module, allocator: SubspaceAllocator, round_index: int, cores: dict[str, torch.Tensor]) -> None:
    """Re-apply a recorded round to ``model``: bit-identical to the live merge that recorded it."""
    for name, core in cores.items():
        weight = model.get_submodule(name).weight
        U, V = allocator.directions(name, round_index)
        with torch.no_grad():
            apply_core(weight, U, core, V)


@dataclass
class RankLedger:
    """The cumulative update of every module, kept as cores on the allocator's orthonormal basis.

    ``core[name]`` is C with W_K - W0 = U_n C V_n^T over the first n components; its singular values are
    exactly those of the cumulative update (U_n, V_n have orthonormal columns), so ranks are measured on the
    update itself, free of the rounding noise that a rank of W - W0 picks up.
    """

    strategy: str
    r: int
    cores: dict[str, torch.Tensor] = field(default_factory=dict)

    def add(self, round_index: int, round_cores: dict[str, torch.Tensor]) -> None:
        k = block_slice(self.strategy, self.r, round_index)
        for name, core in round_cores.items():
            total = self.cores.get(name, torch.zeros(0, 0, dtype=torch.float64))
            size = max(total.shape[0], k.stop)
            if total.shape[0] < size:
                grown = torch.zeros(size, size, dtype=torch.float64)
                grown[: total.shape[0], : total.shape[1]] = total
                total = grown
            total[k, k] += core.double()
            self.cores[name] = total

    def singular_values(self, name: str) -> torch.Tensor:
        return torch.linalg.svdvals(self.cores[name])

    def numerical_rank(self, name: str, rtol: float = 1e-6) -> int:
        return numerical_rank(self.singular_values(name), rtol)

    def entropy_rank(self, name: str) -> float:
        return entropy_rank(self.singular_values(name))


def numerical_rank(singular_values: torch.Tensor, rtol: float = 1e-6) -> int:
    """Singular values above ``rtol`` times the largest: tolerance relative to the update's own scale."""
    if singular_values.numel() == 0 or singular_values.max() <= 0:
        return 0
    return int((singular_values > rtol * singular_values.max()).sum())


def entropy_rank(singular_values: torch.Tensor) -> float:
    """Roy and Vetterli's effective rank: exp of the entropy of the normalised singular values."""
    total = singular_values.sum()
    if total <= 0:
        return 0.0
    p = singular_values / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))
