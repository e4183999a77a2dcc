"""The plain values that cross the plugin boundary: ``Verdict``, ``Evaluation`` and ``Splits``.

They sit in a module of their own so that the boundary checks (``contract.checks``) and the ``Task`` base class
(``contract.task``) both import them without importing each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Verdict:
    """The oracle's judgement of one prediction.

    ``score`` lets a task grade partially (fraction of unit tests passed, say) for objectives that can use a
    graded reward; the failure set is always decided by ``correct``. ``detail`` says why, for reports.
    """

    correct: bool
    detail: str = ""
    score: float | None = None

    @property
    def reward(self) -> float:
        return float(self.correct) if self.score is None else float(self.score)


@dataclass
class Splits:
    """Examples a task trains and evaluates on. Examples are whatever the task likes; the loop only indexes them.

    Three roles: ``train`` (each round learns from its failures), ``validation`` (every decision a run makes:
    patience, which round's model is kept) and ``eval``, the held-out test split, which is only reported and never
    read by a decision. A task that generates its data should return a ``validation`` split of its own, of a size
    that can tell rounds apart, drawn from a seed stream of its own; when it returns None, the run carves a seeded
    ``validation_fraction`` of ``train`` instead.
    """

    train: Sequence[Any]
    eval: Sequence[Any]
    validation: Sequence[Any] | None = None


@dataclass
class Evaluation:
    """What one pass of a model over examples produced: predictions, verdicts and the task's metrics."""

    predictions: list[Any]
    verdicts: list[Verdict]
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return sum(v.correct for v in self.verdicts) / max(len(self.verdicts), 1)

    @property
    def failures(self) -> list[int]:
        return [i for i, v in enumerate(self.verdicts) if not v.correct]
