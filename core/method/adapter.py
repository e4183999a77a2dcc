"""Attach one round's adapter: peft's TinyLoRA, with the round's block of directions written into its buffers.

peft's TinyLoRA supplies the parts worth reusing: the layer wrapping, the u-dimensional trainable vector v
(zero-initialised, so a new round starts as an exact no-op), the fixed random projections P, weight tying across
modules, and a clean ``unload``. What it cannot do is take its basis from anywhere but the top-r SVD of the
weight it wraps, which after one merge is no longer the original weight. So after injection we overwrite its
frozen ``tinylora_A``/``tinylora_B`` buffers with the allocator's block for this round, in fp32. (peft also
splits sqrt(S) between A and B; we put S in B, as the paper writes U S R V^T: the two differ unless R is
diagonal.)

peft computes a full SVD of every wrapped weight at injection, only for us to overwrite it: on SmolLM2-135M
that was 28 s of every round (benchmarks/speed_core.py). So injection runs with peft's ``_init_svd`` swapped
for one that allocates correctly shaped placeholders. If a peft release renames that method, the swap is
skipped and the round is still exact, just slower.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version

import torch
from peft import PeftModel, TinyLoraConfig, get_peft_model
from peft.tuners.tinylora.layer import TinyLoraLayer
from torch import nn

from boostlora.contract.task import Task
from boostlora.foundation.errors import BoostLoraError, ConfigError
from boostlora.method.subspace import SubspaceAllocator

#: peft's conventional name: TRL's GRPOTrainer looks the adapter up by it when it builds a KL reference (beta > 0).
ADAPTER_NAME = "default"
#: Seeds of the fixed projections P differ per round (peft adds the module index within a round).
PROJECTION_SEED_STRIDE = 100_003


def resolve_targets(model: nn.Module, patterns: Sequence[str]) -> list[str]:
    """Names of the ``nn.Linear`` modules whose name equals or ends with ``.<pattern>`` for some pattern.

    Refuses a pattern that matches nothing, and a match that is not a linear layer, by name.
    """
    if not patterns:
        raise ConfigError("no target modules: set `targets` (module-name suffixes such as q_proj, v_proj)")
    names = []
    for pattern in patterns:
        matched = [
            name
            for name, _ in model.named_modules()
            if name == pattern or name.endswith("." + pattern)
        ]
        if not matched:
            sample = sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, nn.Linear)})
            raise ConfigError(
                f"target module '{pattern}' matches nothing in the model (linear layers found: "
                f"{', '.join(sample[:12]) or 'none'})"
            )
        modules = dict(model.named_modules())
        not_linear = [n for n in matched if not isinstance(modules[n], nn.Linear)]
        if not_linear:
            raise ConfigError(
                f"target '{pattern}' matches {not_linear[0]} ({type(modules[not_linear[0]]).__name__}); "
                "only nn.Linear layers can be boosted"
            )
        names.extend(matched)
    return sorted(set(names), key=list(dict(model.named_modules())).index)


def _placeholder_basis(layer: TinyLoraLayer, adapter_name: str, r: int, fan_in_fan_out: bool) -> None:
    """Stand-in for peft's ``_init_svd``: buffers of the right shape, filled by ``attach_round_adapter``."""
    weight = layer.get_base_layer().weight
    out_features, in_features = weight.shape[::-1] if fan_in_fan_out else weight.shape
    rank = min(r, out_features, in_features)
    layer.tinylora_A[adapter_name] = torch.zeros(rank, in_features, device=weight.device)
    layer.tinylora_B[adapter_name] = torch.zeros(out_features, rank, device=weight.device)
    layer.r[adapter_name] = rank


#: The private peft method ``_without_peft_svd`` replaces, and the parameters it is called with.
PEFT_INIT_SVD_PARAMETERS = ("self", "adapter_name", "r", "fan_in_fan_out")


def check_peft_init_svd() -> None:
    """Refuse a peft whose ``TinyLoraLayer._init_svd`` is not the method ``_placeholder_basis`` stands in for.

    We replace it so peft does not compute an SVD per layer per round (the allocator already holds one); a
    renamed or re-signed method would otherwise silently bring that cost back, or break the round adapter.
    """
    original = getattr(TinyLoraLayer, "_init_svd", None)
    parameters = tuple(inspect.signature(original).parameters) if original is not None else ()
    if parameters != PEFT_INIT_SVD_PARAMETERS:
        raise BoostLoraError(
            f"peft {version('peft')} changed TinyLoraLayer._init_svd (expected parameters "
            f"{', '.join(PEFT_INIT_SVD_PARAMETERS)}; found {', '.join(parameters) or 'no such method'}), which "
            "boostlora replaces: install the peft version pyproject.toml names"
        )


@contextmanager
def _without_peft_svd() -> Iterator[None]:
    check_peft_init_svd()
    original = TinyLoraLayer._init_svd
    TinyLoraLayer._init_svd = _placeholder_basis
    try:
        yield
    finally:
        TinyLoraLayer._init_svd = original


@dataclass
class RoundAdapter:
    """A model with this round's adapter attached, and the handles the loop needs."""

    model: PeftModel
    layers: dict[str, TinyLoraLayer]  # target module name (in the base model) -> its TinyLoRA wrapper
    round: int

    @property
    def trainable(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    @property
    def trainable_count(self) -> int:
        return sum(p.numel() for p in self.trainable)


def attach_round_adapter(
    model: nn.Module,
    targets: Sequence[str],
    allocator: SubspaceAllocator,
    *,
    round_index: int,
    r: int,
    u: int,
    weight_tying: float,
    seed: int,
    projection_round: int | None = None,
) -> RoundAdapter:
    """Wrap ``targets`` of ``model`` in a zero-initialised TinyLoRA adapter spanning this round's block.

    The fixed projections P are seeded by ``projection_round`` (by default the round itself, so each round
    draws its own); passing 0 for every round shares round 0's P.
    """
    projection_round = round_index if projection_round is None else projection_round
    model.requires_grad_(False)
    exact = "^(" + "|".join(re.escape(name) for name in targets) + ")$"
    config = TinyLoraConfig(
        r=r,
        u=u,
        weight_tying=weight_tying,
        target_modules=exact,
        projection_seed=seed + PROJECTION_SEED_STRIDE * projection_round,
        init_weights=True,
    )
    with _without_peft_svd():
        peft_model = get_peft_model(model, config, adapter_name=ADAPTER_NAME)
    base = peft_model.get_base_model()
    layers: dict[str, TinyLoraLayer] = {}
    for name in targets:
        layer = base.get_submodule(name)
        if not isinstance(layer, TinyLoraLayer):
            raise ConfigError(f"peft did not wrap target {name}")
        if layer.r[ADAPTER_NAME] != r:
            raise ConfigError(f"target {name} has rank below r={r}")
        B, A = allocator.block(name, round_index)
        device = layer.get_base_layer().weight.device
        layer.tinylora_B[ADAPTER_NAME] = B.to(device=device, dtype=torch.float32)
        layer.tinylora_A[ADAPTER_NAME] = A.to(device=device, dtype=torch.float32)
        layers[name] = layer
    adapter = RoundAdapter(peft_model, layers, round_index)
    if any(p.abs().sum() != 0 for p in adapter.trainable):
        raise RuntimeError("a new round's adapter must start as an exact no-op (v = 0)")
    return adapter


def load_frozen_model(task: Task, model_name: str, device: torch.device, targets: list[str] | None,
                      dtype: torch.dtype = torch.float32) -> tuple[nn.Module, list[str]]:
    """The task's model in ``dtype`` with every weight frozen, and the target modules the rounds adapt (``targets``,
    or the task's defaults), resolved against it. A task loads its model as it likes; floating-point weights are
    cast to the run's ``dtype`` here, so every task honours the setting."""
    model = task.load_model(model_name, device)
    if any(p.is_floating_point() and p.dtype != dtype for p in model.parameters()):
        model.to(dtype=dtype)
    model.requires_grad_(False)
    return model, resolve_targets(model, targets or list(task.default_targets))
