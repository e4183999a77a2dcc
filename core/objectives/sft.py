"""SFT rounds: imitate the task's reference completions (the paper's contrast to GRPO).

The minibatch loop shared with ``cross_entropy`` (``minibatch.py``): the loss is next-token cross-entropy on the reference
completion only, with the prompt rendered exactly as evaluation renders it (``boostlora.generation``), so the
model learns to answer in the context it will be asked in. TinyLoRA reports that SFT needs 100-1000x larger
updates than RL for the same gain, hence the much larger default learning rate than GRPO's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from boostlora.contract.checks import check_prompt, check_text
from boostlora.contract.objective import RoundContext, require_capability
from boostlora.contract.options import option
from boostlora.contract.task import ReferenceTask, Task
from boostlora.lm.generation import render_prompt
from boostlora.objectives.minibatch import MinibatchObjective, MinibatchOptions


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


class SFT(MinibatchObjective):
    """Next-token cross-entropy on ``task.reference(example)`` after the prompt as evaluation renders it."""

    name: ClassVar[str] = "sft"
    description: ClassVar[str] = "imitate the task's reference solutions (next-token cross-entropy)"

    @dataclass
    class Options(MinibatchOptions):
        max_length: int = option(512, "tokens of prompt + reference per example (the prompt's head is cut first)", at_least=1)
        positive: ClassVar[tuple[str, ...]] = ("steps", "batch_size", "max_length")

    def check(self, task: Task) -> None:
        require_capability(self.name, task, ReferenceTask, "has reference solutions (reference(example))")

    def preflight(self, task: Task, model: Any, examples: Sequence[Any]) -> None:
        owner = f"task '{task.name}'"
        for example in examples:
            check_prompt(owner, task.prompt(example))  # type: ignore[attr-defined]
            check_text(owner, "reference", task.reference(example))  # type: ignore[attr-defined]

    def batch_loss(self, ctx: RoundContext, examples: Sequence[Any]) -> torch.Tensor:
        task: Any = ctx.task
        prompts = [task.prompt(ex) for ex in examples]
        batch = sft_batch(task.tokenizer, prompts, [task.reference(ex) for ex in examples], self.options["max_length"])
        return ctx.model(**{k: v.to(ctx.device) for k, v in batch.items()}).loss
