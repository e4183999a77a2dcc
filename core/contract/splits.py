"""A run's three splits: train, validation for its decisions, and the split it reports.

Every decision a run makes (patience, which round's model it keeps) reads the validation split: the task's own
when it supplies one, else a seeded ``validation_fraction`` of train. The reported split (the task's held-out
split) is never read by a decision.

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


def carve_validation(splits: Splits, fraction: float, seed: int, stream: str = "validation") -> Splits:
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
    random.Random(f"{stream}:{seed}").shuffle(keys)
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
    """The splits a run uses: train, a validation split for its decisions, and the split it reports.

    The reported split is the task's held-out split, or (``evaluate_on: validation``) a carve of train. The
    validation split is the task's own when it has one, else a second seeded carve of what is left of train,
    from a seed stream of its own, so the reported split is never read by a decision.
    """
    if evaluate_on == "validation":
        carved = carve_validation(Splits(splits.train, splits.eval), fraction, seed)
        splits = Splits(carved.train, carved.eval, splits.validation)
    if splits.validation is None:
        rest = carve_validation(Splits(splits.train, splits.eval), fraction, seed, stream="decisions")
        splits = Splits(rest.train, splits.eval, rest.eval)
    return splits


def run_splits(task: Task, config: RunConfig) -> Splits:
    """The splits a run trains and measures on, refused when either is empty or the task's own check fails."""
    given = task.load_splits(config.seed)
    if len(given.train) == 0:
        raise DataError(f"task '{task.name}' produced an empty training split: nothing to boost on")
    if len(given.eval) == 0:
        raise DataError(f"task '{task.name}' produced an empty held-out split: nothing to measure progress on")
    if given.validation is not None and len(given.validation) == 0:
        raise DataError(f"task '{task.name}' produced an empty validation split: nothing to choose a round on")
    task.check_splits(given)  # what the task gave, so its message counts what the user supplied
    splits = evaluation_splits(given, config.evaluate_on, config.validation_fraction, config.seed)
    if len(splits.train) != len(given.train):
        task.check_splits(splits)  # and what is left to train on after a carve
    return splits
