"""Cross-entropy rounds for classification tasks (the paper's ESM2 protein case).

A plain minibatch loop rather than transformers' Trainer: a round trains a handful of scalars for tens of
steps on a task-defined loss over arbitrary example objects, and the Trainer's dataset/collator/checkpoint
machinery would be most of the code and none of the value here.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

import torch
from tqdm.auto import tqdm

from .. import distributed
from ..errors import ConfigError
from ..task import SupervisedTask, Task
from .base import Objective, RoundContext, TrainResult, require_capability, warmup_schedule


class CrossEntropy(Objective):
    """Minimise the task's loss on the round's examples with AdamW, fresh optimizer and warm-up each round."""

    name: ClassVar[str] = "cross_entropy"
    description: ClassVar[str] = "supervised loss from the task (classification), AdamW, warm-up each round"
    default_options: ClassVar[dict[str, Any]] = {
        "lr": 5e-2,
        "steps": 30,
        "batch_size": 16,
        "warmup_steps": 3,
        "schedule": "constant",
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
    }

    def __init__(self, options=None) -> None:
        super().__init__(options)
        for key in ("steps", "batch_size"):
            if not isinstance(self.options[key], int) or self.options[key] < 1:
                raise ConfigError(f"objective_options.{key} must be a positive integer, got {self.options[key]!r}")
        if not self.options["lr"] > 0:
            raise ConfigError(f"objective_options.lr must be positive, got {self.options['lr']!r}")

    @staticmethod
    def backward(ctx: RoundContext, batch: list[Any]) -> torch.Tensor:
        """Gradient of the batch's mean loss. Across processes each rank takes a slice of the batch, weighted so
        that the averaged gradient is the whole batch's, and every rank steps identically."""
        world, rank = distributed.world_size(), distributed.rank()
        local = batch[rank::world]
        if local:
            loss = ctx.task.loss(ctx.model, local)  # type: ignore[attr-defined]
            (loss * (len(local) * world / len(batch))).backward()
        else:
            loss = torch.zeros(())
            for p in ctx.trainable:
                p.grad = torch.zeros_like(p)
        distributed.average_gradients(ctx.trainable)
        return loss.detach()

    def check(self, task: Task) -> None:
        require_capability(self.name, task, SupervisedTask, "defines loss(model, examples)")

    def train(self, ctx: RoundContext) -> TrainResult:
        opts = self.options
        if not ctx.trainable:
            raise ConfigError("nothing to train: the round's adapter has no trainable parameters")
        optimizer = torch.optim.AdamW(ctx.trainable, lr=opts["lr"], weight_decay=opts["weight_decay"])
        scheduler = warmup_schedule(optimizer, opts["warmup_steps"], opts["steps"], opts["schedule"])
        order_rng = random.Random(ctx.seed)
        order: list[int] = []
        losses: list[float] = []
        ctx.model.train()
        progress = tqdm(range(opts["steps"]), desc=f"round {ctx.round} train", leave=False, disable=not ctx.show_progress)
        for _ in progress:
            batch = []
            while len(batch) < min(opts["batch_size"], len(ctx.examples)):
                if not order:
                    order = list(range(len(ctx.examples)))
                    order_rng.shuffle(order)
                batch.append(ctx.examples[order.pop()])
            optimizer.zero_grad(set_to_none=True)
            loss = self.backward(ctx, batch)
            if opts["max_grad_norm"]:
                torch.nn.utils.clip_grad_norm_(ctx.trainable, opts["max_grad_norm"])
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            progress.set_postfix(loss=f"{losses[-1]:.4f}")
        ctx.model.eval()
        return TrainResult(steps=opts["steps"], losses=losses, metrics={"loss_first": losses[0], "loss_last": losses[-1]})
