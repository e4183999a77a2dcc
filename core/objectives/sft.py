"""SFT rounds: imitate the task's reference completions (the paper's contrast to GRPO).

A plain minibatch loop (as in ``cross_entropy``): the loss is next-token cross-entropy on the reference
completion only, with the prompt rendered exactly as evaluation renders it (``boostlora.generation``), so the
model learns to answer in the context it will be asked in. TinyLoRA reports that SFT needs 100-1000x larger
updates than RL for the same gain, hence the much larger default learning rate than GRPO's.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from tqdm.auto import tqdm

from ..errors import ConfigError
from ..generation import render_prompt
from ..task import ReferenceTask, Task
from .base import Objective, RoundContext, TrainResult, require_capability, warmup_schedule


def sft_batch(tokenizer: Any, prompts: Sequence[Any], references: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
    """Input ids, attention mask and labels (-100 on prompt and padding) for prompt + reference + EOS.

    Right padding is fine here (no generation); prompts keep their tail when cut so the answer stays in view.
    """
    rows, labels = [], []
    with_template = bool(getattr(tokenizer, "chat_template", None))
    for prompt, reference in zip(prompts, references):
        p = tokenizer(render_prompt(tokenizer, prompt), add_special_tokens=not with_template)["input_ids"]
        c = tokenizer(reference, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        c = c[:max_length]
        p = p[-(max_length - len(c)) :] if max_length > len(c) else []
        rows.append(p + c)
        labels.append([-100] * len(p) + c)
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return {
        "input_ids": torch.tensor([r + [pad] * (width - len(r)) for r in rows]),
        "attention_mask": torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows]),
        "labels": torch.tensor([lab + [-100] * (width - len(lab)) for lab in labels]),
    }


class SFT(Objective):
    """Cross-entropy on ``task.reference(example)``, AdamW, fresh optimizer and warm-up each round."""

    name: ClassVar[str] = "sft"
    description: ClassVar[str] = "imitate the task's reference solutions (next-token cross-entropy)"
    default_options: ClassVar[dict[str, Any]] = {
        "lr": 1e-2,
        "steps": 10,
        "batch_size": 16,
        "max_length": 512,
        "warmup_steps": 1,
        "schedule": "constant",
        "max_grad_norm": 1.0,
    }

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        for key in ("steps", "batch_size", "max_length"):
            if not isinstance(self.options[key], int) or self.options[key] < 1:
                raise ConfigError(f"objective_options.{key} must be a positive integer, got {self.options[key]!r}")
        if not self.options["lr"] > 0:
            raise ConfigError(f"objective_options.lr must be positive, got {self.options['lr']!r}")

    def check(self, task: Task) -> None:
        require_capability(self.name, task, ReferenceTask, "has reference solutions (reference(example))")

    def train(self, ctx: RoundContext) -> TrainResult:
        o = self.options
        task: Any = ctx.task
        if not ctx.trainable:
            raise ConfigError("nothing to train: the round's adapter has no trainable parameters")
        if not ctx.examples:
            raise ConfigError("sft: the round has no examples to train on")
        keep = {id(p) for p in ctx.trainable}
        for p in ctx.model.parameters():
            p.requires_grad_(id(p) in keep)
        optimizer = torch.optim.AdamW(ctx.trainable, lr=o["lr"], weight_decay=0.0)
        scheduler = warmup_schedule(optimizer, o["warmup_steps"], o["steps"], o["schedule"])
        rng = random.Random(ctx.seed)
        order: list[int] = []
        losses: list[float] = []
        ctx.model.train()
        bar = tqdm(range(o["steps"]), desc=f"round {ctx.round} sft", leave=False, disable=not ctx.show_progress)
        for _ in bar:
            picked = []
            while len(picked) < min(o["batch_size"], len(ctx.examples)):
                if not order:
                    order = list(range(len(ctx.examples)))
                    rng.shuffle(order)
                picked.append(ctx.examples[order.pop()])
            batch = sft_batch(task.tokenizer, [task.prompt(ex) for ex in picked], [task.reference(ex) for ex in picked], o["max_length"])
            loss = ctx.model(**{k: v.to(ctx.device) for k, v in batch.items()}).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if o["max_grad_norm"]:
                torch.nn.utils.clip_grad_norm_(ctx.trainable, o["max_grad_norm"])
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
        ctx.model.eval()
        return TrainResult(steps=o["steps"], losses=losses, metrics={"loss_first": losses[0], "loss_last": losses[-1]})
