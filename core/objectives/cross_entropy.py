"""Cross-entropy rounds for classification tasks (the paper's ESM2 protein case): the task's own loss."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from boostlora.contract.checks import check_loss
from boostlora.contract.objective import RoundContext, require_capability
from boostlora.contract.options import option
from boostlora.contract.task import SupervisedTask, Task
from boostlora.objectives.minibatch import MinibatchObjective, MinibatchOptions


class CrossEntropy(MinibatchObjective):
    """Minimise ``task.loss`` on the round's examples."""

    name: ClassVar[str] = "cross_entropy"
    description: ClassVar[str] = "supervised loss from the task (classification), AdamW, warm-up each round"

    @dataclass
    class Options(MinibatchOptions):
        lr: float = option(5e-2, "AdamW learning rate of the round's few numbers", above=0)
        steps: int = option(30, "optimizer steps per round", at_least=1)
        warmup_steps: int = option(3, "linear warm-up steps at the start of every round", at_least=0)

    def check(self, task: Task) -> None:
        require_capability(self.name, task, SupervisedTask, "defines loss(model, examples)")

    def preflight(self, task: Task, model: nn.Module, examples: Sequence[Any]) -> None:
        with torch.no_grad():
            check_loss(f"task '{task.name}'", task.loss(model, examples))  # type: ignore[attr-defined]

    def batch_loss(self, ctx: RoundContext, examples: Sequence[Any]) -> torch.Tensor:
        return check_loss(f"task '{ctx.task.name}'", ctx.task.loss(ctx.model, examples))  # type: ignore[attr-defined]
