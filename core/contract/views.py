"""What lifecycle hooks see of a run: ``RunView``, a read-only snapshot.

The live run (``method.state.Run``) is built by layers above the contract; ``runs.recorder.run_view`` takes the
snapshot, so the hook specifications never import the loop or the recorder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from boostlora.contract.records import RoundRecord
from boostlora.contract.task import Task
from boostlora.foundation.config import RunConfig


@dataclass(frozen=True)
class RunView:
    """What lifecycle hooks see of a run: a read-only snapshot taken when the hook is called.

    ``config`` is a copy and ``task`` is the task object itself (for its name and options; hooks must not
    change it). Changing a view changes nothing in the run.
    """

    config: RunConfig
    task: Task
    run_dir: Path | None
    base_eval_accuracy: float | None
    best_eval_accuracy: float  # the best held-out accuracy so far (reported only: no decision reads it)
    rounds: tuple[RoundRecord, ...]
    stop_reason: str | None
    best_validation_accuracy: float = float("-inf")  # what patience and ``keep: best`` read
    best_round: int | None = None  # the round with ``best_validation_accuracy``; None: the base model

    @property
    def rounds_done(self) -> int:
        return len(self.rounds)
