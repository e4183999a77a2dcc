"""The one evaluation path: every split the loop judges goes through the task's own ``evaluate``.

With one process that is a plain call. Across processes (``torchrun``, ``accelerate launch``) each rank calls
the task's ``evaluate`` on its shard (every N-th example), the predictions and verdicts are gathered back into
example order, and the task's ``merge_metrics`` combines the shards' metrics. A task that overrides
``evaluate`` (parallel checking, sampled pass@k) is therefore used the same way under one process or many.
What comes back is checked at the boundary (``contract.checks.check_evaluation``) before the loop trusts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from boostlora.contract.checks import check_evaluation, check_metrics
from boostlora.contract.task import Task
from boostlora.contract.values import Evaluation
from boostlora.foundation import distributed


def evaluate(task: Task, model: nn.Module, examples: Sequence[Any]) -> Evaluation:
    """Judge ``examples`` with ``task.evaluate``; across processes each rank judges a shard and all get everything."""
    owner = f"task '{task.name}'"
    if distributed.world_size() == 1:
        return check_evaluation(owner, task.evaluate(model, examples), len(examples))
    mine = distributed.shard(examples)
    if mine:
        local = check_evaluation(owner, task.evaluate(model, [examples[i] for i in mine]), len(mine))
    else:  # more processes than examples: nothing to judge here, and an empty batch may not be a valid input
        local = Evaluation([], [], {})
    predictions: list[Any] = [None] * len(examples)
    verdicts: list[Any] = [None] * len(examples)
    shards: list[tuple[int, dict[str, Any]]] = []
    for indices, preds, verds, metrics in distributed.all_gather((mine, local.predictions, local.verdicts, local.metrics)):
        for i, p, v in zip(indices, preds, verds):
            predictions[i], verdicts[i] = p, v
        if indices:
            shards.append((len(indices), metrics))
    merged = task.merge_metrics(examples, predictions, verdicts, shards)
    return Evaluation(predictions, verdicts, check_metrics(owner, merged, "merge_metrics"))
