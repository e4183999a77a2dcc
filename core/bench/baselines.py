"""Single-shot baselines the paper compares against: LoRA and full fine-tuning, trained once on the whole split.

They reuse everything a boosting run uses (the task, its objective, its splits and seed) and differ only in
what is trainable, so a comparison at equal optimizer steps is a comparison of methods, not of pipelines.
Single-shot TinyLoRA needs nothing here: it is a boosting run with ``max_rounds=1, train_on=all,
strategy=top`` (see ``boostlora.bench``).
"""

from __future__ import annotations

import re
import time
from typing import Any, Literal

import torch

from boostlora.contract.objective import RoundContext
from boostlora.contract.plugins import find_objective, find_task
from boostlora.contract.splits import evaluation_splits
from boostlora.foundation.config import RunConfig
from boostlora.foundation.device import resolve_device
from boostlora.method.adapter import resolve_targets
from boostlora.method.merge import numerical_rank
from boostlora.runs.recorder import item_verdicts

Baseline = Literal["lora", "full"]


def train_single_shot(config: RunConfig, method: Baseline, *, steps: int, lora_rank: int = 8) -> dict[str, Any]:
    """Train ``method`` for ``steps`` optimizer steps on the whole train split; report like a one-round run."""
    started = time.perf_counter()
    task = find_task(config.plugin, config.task)(config.task_options)
    options = {**config.objective_options, "steps": steps}
    objective = find_objective(config.objective or task.default_objective)(options)
    objective.check(task)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    splits = evaluation_splits(task.load_splits(config.seed), config.evaluate_on, config.validation_fraction, config.seed)
    model = task.load_model(config.model or task.default_model, device)
    model.requires_grad_(False)
    targets = resolve_targets(model, config.targets or list(task.default_targets))
    task.prepare(model, splits)
    fitted = sum(t.numel() for t in task.extra_state(model).values())
    originals = {name: model.get_submodule(name).weight.detach().clone() for name in targets}
    base = task.evaluate(model, splits.eval)

    if method == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=lora_rank, lora_alpha=lora_rank, lora_dropout=0.0,
                          target_modules="^(" + "|".join(map(re.escape, targets)) + ")$")
        trained_model = get_peft_model(model, lora)
        trainable = [p for p in trained_model.parameters() if p.requires_grad]
    elif method == "full":
        trained_model = model
        model.requires_grad_(True)
        trainable = list(model.parameters())
    else:
        raise ValueError(f"unknown baseline '{method}'")
    count = sum(p.numel() for p in trainable)
    torch.manual_seed(config.seed)
    objective.train(RoundContext(trained_model, task, list(splits.train), trainable, 0, config.seed, device,
                                 config.show_progress))
    ranks = {}
    with torch.no_grad():
        for name in targets:
            # LoRA's rank is read off its own factors: W - W0 after a merge would add fp32 rounding noise.
            if method == "lora":
                delta = trained_model.get_base_model().get_submodule(name).get_delta_weight("default")
            else:
                delta = model.get_submodule(name).weight - originals[name]
            ranks[name] = numerical_rank(torch.linalg.svdvals(delta.double()), 1e-6)
    model = trained_model.merge_and_unload() if method == "lora" else trained_model
    model.requires_grad_(False)
    held_out = task.evaluate(model, splits.eval)
    return {
        "method": method,
        "base_eval_accuracy": base.accuracy,
        "final_eval_accuracy": held_out.accuracy,
        "eval_metrics": held_out.metrics,
        "eval_verdicts": item_verdicts(held_out),
        "trainable_params": count,
        # a head the task fitted in prepare counts too; full fine-tuning already trains it among all parameters
        "total_trainable_params": count + (fitted if method == "lora" else 0),
        "effective_rank": ranks,
        "steps": steps,
        "seconds": time.perf_counter() - started,
    }
