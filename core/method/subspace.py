"""The subspace allocator: one SVD of the original weights, handed out one block of directions per round.

ROTATE gives round k the singular directions [k*r, (k+1)*r) of the ORIGINAL weight W0 = U S V^T. The blocks
are mutually orthogonal, so K merged rounds build an update of rank K*r while each round trains only u numbers
(a round the line search merges at step 0 adds nothing, so it is not counted).
TOP gives every round [0, r): TinyLoRA repeated, whose total update never exceeds rank r (the paper's contrast).

The blocks must be the exact ones: rotate's claim is about *these* directions, and a randomized truncated SVD
returns lower blocks that can be nearly unrelated to the true ones when neighbouring singular values are close
(``benchmarks/svd_blocks.py`` on SmolLM2-135M: the worst module's randomized block 3 has cosine 0.06 with
the exact one, block 7's median module 0.83). So the default is a
full LAPACK SVD (``svd='full'``), sliced to the components a run can use, with a deterministic sign convention:
the leading blocks are the same bits whatever ``max_rounds`` or ``strategy`` is, so a longer run extends a shorter
one and top's block is rotate's block 0. ``svd='lowrank'`` (randomized, faster on large models) is kept only with
an accuracy check: every returned triplet must satisfy ``W v = s u`` and ``W^T u = s v`` to ``LOWRANK_TOLERANCE``
relative to the largest singular value, and a module that fails gets the exact SVD instead.

The bases are cached in the run directory (``svd_cache``, which ties the cache to the model and settings) so a
resumed run reuses the exact same bits: a resumed run must replay bit-identical merges.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from boostlora.foundation.errors import CapacityError, ConfigError

SvdMethod = Literal["full", "lowrank"]

#: Extra random directions and power iterations for torch.svd_lowrank.
LOWRANK_OVERSAMPLE = 16
LOWRANK_ITERATIONS = 6
#: Largest residual ``max(|W v - s u|, |W^T u - s v|) / s_max`` a randomized triplet may have before the module
#: falls back to the exact SVD. Exact fp32 triplets of SmolLM2's weights sit near 1e-6.
LOWRANK_TOLERANCE = 1e-3

log = logging.getLogger("boostlora.subspace")


@dataclass
class Basis:
    """Leading singular triplets of one module's original weight, in fp32: W0 ~= U diag(S) V^T."""

    U: torch.Tensor  # (out, n), orthonormal columns
    S: torch.Tensor  # (n,), descending
    V: torch.Tensor  # (in, n), orthonormal columns

    @property
    def components(self) -> int:
        return self.S.numel()


def truncated_svd(weight: torch.Tensor, k: int, method: SvdMethod = "full") -> Basis:
    """The top-k singular triplets of ``weight`` (fp32, on the weight's device), signs fixed deterministically.

    ``full`` slices an exact SVD, so the first components do not depend on ``k``. ``lowrank`` keeps a randomized
    result only when every triplet passes ``triplet_residual``; otherwise it logs and falls back to ``full``.
    """
    if method not in ("full", "lowrank"):
        raise ConfigError(f"unknown svd method '{method}' (use 'full' or 'lowrank')")
    w = weight.detach().float()
    full_rank = min(w.shape)
    if k > full_rank:
        raise ValueError(f"asked for {k} components of a {tuple(w.shape)} matrix")
    if method == "lowrank":
        q = min(k + LOWRANK_OVERSAMPLE, full_rank)
        U, S, V = torch.svd_lowrank(w, q=q, niter=LOWRANK_ITERATIONS)
        basis = canonical_signs(U[:, :k], S[:k], V[:, :k])
        residual = triplet_residual(w, basis)
        if residual <= LOWRANK_TOLERANCE:
            return basis
        log.warning("randomized SVD residual %.2e > %.0e on a %s matrix: using the exact SVD", residual,
                    LOWRANK_TOLERANCE, tuple(w.shape))
    U, S, Vh = torch.linalg.svd(w, full_matrices=False)
    return canonical_signs(U[:, :k], S[:k], Vh.mT[:, :k])


def canonical_signs(U: torch.Tensor, S: torch.Tensor, V: torch.Tensor) -> Basis:
    """Flip each (u_i, v_i) pair so u_i's largest-magnitude entry is positive: an SVD fixes a pair only up to
    sign, and a run's directions (and its cached bases) should not depend on which sign LAPACK returned."""
    index = U.abs().argmax(dim=0)
    signs = torch.sign(U.gather(0, index.unsqueeze(0))).squeeze(0)
    signs = torch.where(signs == 0, torch.ones_like(signs), signs)
    return Basis((U * signs).contiguous(), S.contiguous(), (V * signs).contiguous())


def triplet_residual(weight: torch.Tensor, basis: Basis) -> float:
    """``max(|W v_i - s_i u_i|, |W^T u_i - s_i v_i|) / s_max`` over the basis: 0 for exact singular triplets."""
    w = weight.detach().float()
    left = (w @ basis.V - basis.U * basis.S).norm(dim=0)
    right = (w.mT @ basis.U - basis.V * basis.S).norm(dim=0)
    scale = basis.S.max().clamp_min(torch.finfo(basis.S.dtype).tiny)
    return float(torch.maximum(left, right).max() / scale)


def components_needed(strategy: str, r: int, max_rounds: int) -> int:
    """How many singular directions a run can ever use."""
    if strategy == "rotate":
        return r * max_rounds
    if strategy == "top":
        return r
    raise ConfigError(f"unknown strategy '{strategy}' (use 'rotate' or 'top')")


def block_slice(strategy: str, r: int, round_index: int) -> slice:
    """The component indices round ``round_index`` trains in."""
    start = round_index * r if strategy == "rotate" else 0
    return slice(start, start + r)


def check_capacity(shapes: dict[str, tuple[int, int]], strategy: str, r: int, max_rounds: int) -> None:
    """Refuse a run whose rounds would need more directions than a module has, before anything trains."""
    needed = components_needed(strategy, r, max_rounds)
    too_small = {name: shape for name, shape in shapes.items() if needed > min(shape)}
    if too_small:
        name, shape = min(too_small.items(), key=lambda item: min(item[1]))
        most = min(shape) // r
        raise CapacityError(
            f"max_rounds*r = {max_rounds}*{r} = {needed} exceeds the rank of {len(too_small)} target module(s), "
            f"smallest {name} {shape[0]}x{shape[1]} (rank {min(shape)}): use max_rounds <= {most}, a smaller r, "
            f"or strategy=top",
            most,
        )


class SubspaceAllocator:
    """Hands each round its block of the original weights' singular directions."""

    def __init__(self, bases: dict[str, Basis], strategy: str, r: int, block_scale: str) -> None:
        if block_scale not in ("raw", "matched", "gain"):
            raise ConfigError(f"unknown block_scale '{block_scale}' (use 'raw', 'matched' or 'gain')")
        self.bases = bases
        self.strategy = strategy
        self.r = r
        self.block_scale = block_scale
        #: per module, one factor per block (``block_gain``); needed before the first round when block_scale='gain'
        self.gains: dict[str, torch.Tensor] | None = None

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        module_names: Iterable[str],
        *,
        strategy: str,
        r: int,
        max_rounds: int,
        block_scale: str,
        method: SvdMethod = "full",
        show_progress: bool = False,
    ) -> SubspaceAllocator:
        """Compute the bases of ``module_names`` in ``model``'s current weights (a run's cache: ``svd_cache``)."""
        modules = dict(model.named_modules())
        names = list(module_names)
        shapes = {name: tuple(modules[name].weight.shape) for name in names}
        check_capacity(shapes, strategy, r, max_rounds)
        needed = components_needed(strategy, r, max_rounds)
        from tqdm.auto import tqdm

        bases = {}
        for name in tqdm(names, desc="one-time SVD", unit="module", disable=not show_progress, leave=False):
            bases[name] = truncated_svd(modules[name].weight, needed, method)
        return cls(bases, strategy, r, block_scale)

    def block(self, name: str, round_index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Round ``round_index``'s factors for module ``name``: B = U_k diag(s_k) (out x r), A = V_k^T (r x in).

        With ``block_scale='matched'`` every block is rescaled to the top block's mean singular value, so moving
        down the spectrum does not shrink a round's step for the same v (the paper does not say which it uses).
        With ``block_scale='gain'`` the block is scaled by its measured factor (``block_gain``), so it moves the
        layer's output on the task's inputs as much as block 0 does.
        """
        basis = self.bases[name]
        k = block_slice(self.strategy, self.r, round_index)
        scale = basis.S[k]
        if self.block_scale == "matched":
            top = basis.S[: self.r].mean()
            scale = scale * (top / scale.mean().clamp_min(torch.finfo(scale.dtype).tiny))
        elif self.block_scale == "gain":
            if self.gains is None:
                raise ConfigError("block_scale='gain' needs the blocks' gains measured before the first round")
            scale = scale * self.gains[name][k.start // self.r].to(scale.device, scale.dtype)
        return (basis.U[:, k] * scale).contiguous(), basis.V[:, k].mT.contiguous()

    def directions(self, name: str, round_index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The orthonormal (U_k, V_k) spanning round ``round_index``'s block of module ``name``."""
        basis = self.bases[name]
        k = block_slice(self.strategy, self.r, round_index)
        return basis.U[:, k], basis.V[:, k]

