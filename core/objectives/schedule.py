"""The learning-rate warm-up every built-in objective restarts each round (a fresh optimizer and warm-up per round)."""

from __future__ import annotations

import torch

from boostlora.foundation.errors import ConfigError


def warmup_schedule(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, kind: str):
    """Linear warm-up, then constant or cosine decay: a fresh schedule every round, as the method asks.

    The first ``warmup_steps`` steps take ``lr * (step + 1) / (warmup_steps + 1)``: every warm-up step is below the
    full rate (``warmup_steps=1`` halves the first step) and none is wasted at zero, which matters when a round has
    only a few steps. (transformers' ``get_constant_schedule_with_warmup`` starts at 0, spending a whole step.)
    """
    import math

    if kind not in ("constant", "cosine"):
        raise ConfigError(f"unknown schedule '{kind}' (use 'constant' or 'cosine')")

    def factor(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        if kind == "cosine":
            progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
