"""The subspace allocator: one SVD of the original weights, handed out one block of directions per round.

ROTATE gives round k the singular directions [k*r, (k+1)*r) of the ORIGINAL weight W0 = U S V^T. The blocks
are mutually orthogonal, so K rounds build an update of rank K*r while each round trains only u numbers.
TOP gives every round [0, r): TinyLoRA repeated, whose total update never exceeds rank r (the paper's contrast).

Only the components a run can use are computed (max_rounds*r for rotate, r for top), with a randomized
truncated SVD when that is much cheaper than a full one, and they are cached in the run directory so a resumed
run reuses the exact same bases: a resumed run must replay bit-identical merges.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from .errors import ConfigError

SvdMethod = Literal["auto", "full", "lowrank"]

#: Randomized SVD is used when the run needs at most this fraction of a module's spectrum.
LOWRANK_MAX_FRACTION = 0.25
#: Extra random directions and power iterations for torch.svd_lowrank: enough that the leading components match
#: a full SVD to ~1e-4 relative on trained LLM weights (measured in benchmarks/speed_core.py).
LOWRANK_OVERSAMPLE = 16
LOWRANK_ITERATIONS = 6


@dataclass
class Basis:
    """Leading singular triplets of one module's original weight, in fp32: W0 ~= U diag(S) V^T."""

    U: torch.Tensor  # (out, n), orthonormal columns
    S: torch.Tensor  # (n,), descending
    V: torch.Tensor  # (in, n), orthonormal columns

    @property
    def components(self) -> int:
        return self.S.numel()


def truncated_svd(weight: torch.Tensor, k: int, method: SvdMethod = "auto") -> Basis:
    """The top-k singular triplets of ``weight`` (computed in fp32 on the weight's device)."""
    w = weight.detach().float()
    full_rank = min(w.shape)
    if k > full_rank:
        raise ValueError(f"asked for {k} components of a {tuple(w.shape)} matrix")
    use_lowrank = method == "lowrank" or (method == "auto" and k <= LOWRANK_MAX_FRACTION * full_rank)
    if use_lowrank:
        q = min(k + LOWRANK_OVERSAMPLE, full_rank)
        U, S, V = torch.svd_lowrank(w, q=q, niter=LOWRANK_ITERATIONS)
    else:
        U, S, Vh = torch.linalg.svd(w, full_matrices=False)
        V = Vh.mT
    return Basis(U[:, :k].contiguous(), S[:k].contiguous(), V[:, :k].contiguous())


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
        raise ConfigError(
            f"max_rounds*r = {max_rounds}*{r} = {needed} exceeds the rank of {len(too_small)} target module(s), "
            f"smallest {name} {shape[0]}x{shape[1]} (rank {min(shape)}): use max_rounds <= {most}, a smaller r, "
            f"or strategy=top"
        )


class SubspaceAllocator:
    """Hands each round its block of the original weights' singular directions."""

    def __init__(self, bases: dict[str, Basis], strategy: str, r: int, block_scale: str) -> None:
        if block_scale not in ("raw", "matched"):
            raise ConfigError(f"unknown block_scale '{block_scale}' (use 'raw' or 'matched')")
        self.bases = bases
        self.strategy = strategy
        self.r = r
        self.block_scale = block_scale

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
        method: SvdMethod = "auto",
        cache: Path | None = None,
        show_progress: bool = False,
    ) -> SubspaceAllocator:
        """Compute (or load from ``cache``) the bases of ``module_names`` in ``model``'s current weights."""
        modules = dict(model.named_modules())
        names = list(module_names)
        shapes = {name: tuple(modules[name].weight.shape) for name in names}
        check_capacity(shapes, strategy, r, max_rounds)
        needed = components_needed(strategy, r, max_rounds)
        if cache is not None and cache.exists():
            bases = load_bases(cache)
            if set(bases) == set(names) and all(b.components >= needed for b in bases.values()):
                return cls(bases, strategy, r, block_scale)
        from tqdm.auto import tqdm

        bases = {}
        for name in tqdm(names, desc="one-time SVD", unit="module", disable=not show_progress, leave=False):
            bases[name] = truncated_svd(modules[name].weight, needed, method)
        if cache is not None:
            save_bases(bases, cache)
        return cls(bases, strategy, r, block_scale)

    def block(self, name: str, round_index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Round ``round_index``'s factors for module ``name``: B = U_k diag(s_k) (out x r), A = V_k^T (r x in).

        With ``block_scale='matched'`` every block is rescaled to the top block's mean singular value, so moving
        down the spectrum does not shrink a round's step for the same v (the paper does not say which it uses).
        """
        basis = self.bases[name]
        k = block_slice(self.strategy, self.r, round_index)
        scale = basis.S[k]
        if self.block_scale == "matched":
            top = basis.S[: self.r].mean()
            scale = scale * (top / scale.mean().clamp_min(torch.finfo(scale.dtype).tiny))
        return (basis.U[:, k] * scale).contiguous(), basis.V[:, k].mT.contiguous()

    def directions(self, name: str, round_index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The orthonormal (U_k, V_k) spanning round ``round_index``'s block of module ``name``."""
        basis = self.bases[name]
        k = block_slice(self.strategy, self.r, round_index)
        return basis.U[:, k], basis.V[:, k]


def save_bases(bases: dict[str, Basis], path: Path) -> None:
    """Write bases atomically as safetensors (exact bits, so a resumed run replays identical merges)."""
    from safetensors.torch import save_file

    from .checkpoint import atomic_path

    tensors = {}
    for name, b in bases.items():
        tensors[f"{name}::U"] = b.U.detach().cpu().contiguous()
        tensors[f"{name}::S"] = b.S.detach().cpu().contiguous()
        tensors[f"{name}::V"] = b.V.detach().cpu().contiguous()
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))


def load_bases(path: Path, device: torch.device | str = "cpu") -> dict[str, Basis]:
    from safetensors.torch import load_file

    tensors = load_file(str(path), device=str(device))
    names = {key.rsplit("::", 1)[0] for key in tensors}
    return {n: Basis(tensors[f"{n}::U"], tensors[f"{n}::S"], tensors[f"{n}::V"]) for n in sorted(names)}
