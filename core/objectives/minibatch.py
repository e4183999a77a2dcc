"""The minibatch loop shared by the supervised objectives (``cross_entropy``, ``sft``).

A plain loop rather than transformers' Trainer: a round trains a handful of scalars for tens of steps on a loss
over arbitrary example objects, and the Trainer's dataset/collator/checkpoint machinery would be most of the code
and none of the value. Subclasses say only how a batch becomes a loss.
"""

from __future__ import annotations

import random
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from tqdm.auto import tqdm

from boostlora.contract.objective import Objective, RoundContext, TrainResult
from boostlora.contract.options import Options, option
from boostlora.foundation import distributed
from boostlora.foundation.errors import ConfigError
from boostlora.objectives.schedule import warmup_schedule


@dataclass
class MinibatchOptions(Options):
    """Options of the supervised objectives' minibatch loop."""

    lr: float = option(1e-2, "AdamW learning rate of the round's few numbers", above=0)
    steps: int = option(10, "optimizer steps per round", at_least=1)
    batch_size: int = option(16, "examples per step (the global batch across processes)", at_least=1)
    warmup_steps: int = option(1, "linear warm-up steps at the start of every round", at_least=0)
    schedule: Literal["constant", "cosine"] = option("constant", "learning-rate schedule after warm-up")
    weight_decay: float = option(0.0, "AdamW weight decay", at_least=0)
    max_grad_norm: float | None = option(1.0, "gradient clipping norm (0 or unset: no clipping)", at_least=0)

    #: Options that must be at least 1.
    positive: ClassVar[tuple[str, ...]] = ("steps", "batch_size")

    def validate(self) -> None:
        for key in self.positive:
            if self[key] < 1:
                raise ConfigError(f"objective_options.{key} must be a positive integer, got {self[key]!r}")
        if not self.lr > 0:
            raise ConfigError(f"objective_options.lr must be positive, got {self.lr!r}")


class MinibatchObjective(Objective):
    """AdamW over ``ctx.trainable`` on shuffled minibatches; a fresh optimizer and warm-up every round."""

    Options = MinibatchOptions

    @abstractmethod
    def batch_loss(self, ctx: RoundContext, examples: Sequence[Any]) -> torch.Tensor:
        """Mean loss of ``ctx.model`` on ``examples``."""

    def backward(self, ctx: RoundContext, batch: list[Any]) -> torch.Tensor:
        """Gradient of the batch's mean loss. Across processes each rank takes a slice of the batch, weighted so
        that the averaged gradient is the whole batch's, and every rank steps identically."""
        world, rank = distributed.world_size(), distributed.rank()
        local = batch[rank::world]
        if local:
            loss = self.batch_loss(ctx, local)
            (loss * (len(local) * world / len(batch))).backward()
        else:
            loss = torch.zeros(())
            for p in ctx.trainable:
                p.grad = torch.zeros_like(p)
        distributed.average_gradients(ctx.trainable)
        return loss.detach()

    def train(self, ctx: RoundContext) -> TrainResult:
        opts = self.options
        if not ctx.trainable:
            raise ConfigError("nothing to train: the round's adapter has no trainable parameters")
        if not ctx.examples:
            raise ConfigError(f"{self.name}: the round has no examples to train on")
        keep = {id(p) for p in ctx.trainable}
        for p in ctx.model.parameters():
            p.requires_grad_(id(p) in keep)
        optimizer = torch.optim.AdamW(ctx.trainable, lr=opts["lr"], weight_decay=opts["weight_decay"])
        scheduler = warmup_schedule(optimizer, opts["warmup_steps"], opts["steps"], opts["schedule"])
        order_rng = random.Random(ctx.seed)
        order: list[int] = []
        losses: list[float] = []
        step_logs: list[dict[str, float]] = []
        ctx.model.train()
        progress = tqdm(range(opts["steps"]), desc=f"round {ctx.round} {self.name}", leave=False,
                        disable=not ctx.show_progress)  # tqdm's next free line: beneath the run's rounds bar
        for _ in progress:
            batch = []
            while len(batch) < min(opts["batch_size"], len(ctx.examples)):
                if not order:
                    order = list(range(len(ctx.examples)))
                    order_rng.shuffle(order)
                batch.append(ctx.examples[order.pop()])
            optimizer.zero_grad(set_to_none=True)
            learning_rate = scheduler.get_last_lr()[0]
            loss = self.backward(ctx, batch)
            if opts["max_grad_norm"]:
                torch.nn.utils.clip_grad_norm_(ctx.trainable, opts["max_grad_norm"])
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            step_logs.append({"loss": losses[-1], "learning_rate": learning_rate})
            progress.set_postfix(loss=f"{losses[-1]:.4f}")
        ctx.model.eval()
        return TrainResult(steps=opts["steps"], losses=losses, metrics={"loss_first": losses[0], "loss_last": losses[-1]},
                           step_logs=step_logs)
