"""Which split a run measures itself on: the task's held-out split, or a validation split carved from train.

Settings (learning rates, step sizes, block scaling, rounds x steps) must be chosen without touching the split
that is reported. ``evaluate_on: validation`` makes any task, built-in or third-party, do that without code of
its own: a seeded ``validation_fraction`` of the train split becomes the run's evaluation split and is removed
from training (the failure sets, the fitted heads and the line search never see it), and the task's held-out
split is not loaded into the run at all. Report held-out numbers from ``evaluate_on: held-out`` runs, once per
chosen configuration.
"""

from __future__ import annotations

import random
from typing import Literal

from boostlora.contract.task import Task
from boostlora.contract.values import Splits
from boostlora.foundation.config import RunConfig
from boostlora.foundation.errors import DataError

EvaluateOn = Literal["held-out", "validation"]


def carve_validation(splits: Splits, fraction: float, seed: int) -> Splits:
    """Train without a seeded ``fraction`` of it, and that fraction as the evaluation split.

    Copies of one example (equal ``repr``: generators repeat small problems) go to the same side, so validation
    never scores an example the run also trains on. The draw depends only on the train split and ``seed``, so
    every method of a comparison with the same seed validates on the same examples (paired comparisons need it).
    """
    train = list(splits.train)
    groups: dict[str, list[int]] = {}
    for i, example in enumerate(train):
        groups.setdefault(repr(example), []).append(i)
    keys = list(groups)
    random.Random(f"validation:{seed}").shuffle(keys)
    target = round(fraction * len(train))
    held: set[int] = set()
    for key in keys:
        if len(held) >= target:
            break
        held.update(groups[key])
    if not held or len(held) >= len(train):
        raise DataError(
            f"validation_fraction={fraction} of a {len(train)}-example train split leaves "
            f"{len(held)} validation and {len(train) - len(held)} training examples: both need at least one"
        )
    return Splits(
        train=[x for i, x in enumerate(train) if i not in held],
        eval=[train[i] for i in sorted(held)],
    )


def evaluation_splits(splits: Splits, evaluate_on: EvaluateOn, fraction: float, seed: int) -> Splits:
    """The splits a run uses: as the task made them, or with validation carved from train."""
    if evaluate_on == "held-out":
        return splits
    return carve_validation(splits, fraction, seed)


def run_splits(task: Task, config: RunConfig) -> Splits:
    """The splits a run trains and measures on, refused when either is empty or the task's own check fails."""
    splits = evaluation_splits(task.load_splits(config.seed), config.evaluate_on, config.validation_fraction, config.seed)
    if len(splits.train) == 0:
        raise DataError(f"task '{task.name}' produced an empty training split: nothing to boost on")
    if len(splits.eval) == 0:
        raise DataError(f"task '{task.name}' produced an empty held-out split: nothing to measure progress on")
    task.check_splits(splits)
    return splits
