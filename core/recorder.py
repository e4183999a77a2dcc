"""Core's bookkeeping around the method: timing, round records, the cross-rank check, patience and hooks.

``loop.boosting_round`` holds the method alone and returns a ``RoundResult``; everything a run does *about* a
round happens here, in the same order for every round: check that the processes merged identical weights,
build the ``RoundRecord`` that ``report.json`` and the ``boostlora_round_end`` hook receive, track the best
held-out accuracy for ``patience``, checkpoint, then ask the lifecycle hooks whether to stop. Hooks see a
``RunView``, a read-only snapshot, never the live run.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from . import distributed
from .config import RunConfig
from .objectives.base import TrainResult
from .report import RoundRecord, table_row
from .task import Evaluation, Task

if TYPE_CHECKING:
    from .loop import Run


class Phases:
    """Wall time of a round's phases: ``with phases("train"): ...``; the record reads the laps.

    Every step of a round that takes measurable time runs inside a phase, so the laps add up to the round's
    ``seconds`` (what is left is Python between phases) and ``report.json`` says where a round's time went.
    """

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.laps: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.laps[name] = self.laps.get(name, 0.0) + time.perf_counter() - start

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


@dataclass
class RoundResult:
    """What one round of the method produced, before any bookkeeping."""

    round: int
    train_eval: Evaluation  # the whole train split, before the round: its failures are F_k
    held_out: Evaluation  # the held-out split, after the merge
    n_trained_on: int  # failures plus replayed examples
    trainable_params: int
    trained: TrainResult
    step_size: float
    cores: dict[str, torch.Tensor]  # the merged update's r x r core per target module
    merge_gap: float
    phases: Phases = field(default_factory=Phases)


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
    best_eval_accuracy: float
    rounds: tuple[RoundRecord, ...]
    stop_reason: str | None

    @property
    def rounds_done(self) -> int:
        return len(self.rounds)

    @classmethod
    def of(cls, run: Run) -> RunView:
        return cls(
            config=copy.deepcopy(run.config),
            task=run.task,
            run_dir=run.run_dir,
            base_eval_accuracy=run.report.get("base_eval_accuracy"),
            best_eval_accuracy=run.best_eval,
            rounds=tuple(RoundRecord(**record) for record in run.report["rounds"]),
            stop_reason=run.report.get("stop_reason"),
        )


def item_verdicts(evaluation: Evaluation) -> list[int]:
    """1 where the example was judged correct, 0 where not, in the split's order."""
    return [int(bool(v.correct)) for v in evaluation.verdicts]


def build_record(run: Run, result: RoundResult) -> RoundRecord:
    """The round's ``RoundRecord``; also the ledger of merged cores it measures ranks from, and the lockstep check."""
    with result.phases("record"):  # the cross-rank digest and the ranks of the cumulative update
        digest = distributed.check_lockstep(run.model, run.targets, result.round)
        run.round_cores.append(result.cores)
        run.ledger.add(result.round, result.cores)
        effective_rank = {name: run.ledger.numerical_rank(name) for name in run.targets}
        entropy_rank = {name: round(run.ledger.entropy_rank(name), 4) for name in run.targets}
    previous = run.report["rounds"][-1]["cumulative_params"] if run.report["rounds"] else 0
    laps = result.phases.laps
    return RoundRecord(
        round=result.round,
        n_train=len(run.splits.train),
        n_failures=len(result.train_eval.failures),
        train_accuracy=result.train_eval.accuracy,
        eval_accuracy=result.held_out.accuracy,
        trainable_params=result.trainable_params,
        cumulative_params=previous + (result.trainable_params if result.step_size != 0 else 0),
        effective_rank=effective_rank,
        entropy_rank=entropy_rank,
        seconds=round(result.phases.elapsed(), 3),
        n_trained_on=result.n_trained_on,
        step_size=result.step_size,
        eval_metrics=result.held_out.metrics,
        train_metrics={**result.train_eval.metrics, **result.trained.metrics},
        merge_gap=result.merge_gap,
        seconds_train=round(laps.get("train", 0.0), 3),
        seconds_eval_train=round(laps.get("eval_train", 0.0), 3),
        seconds_merge=round(laps.get("merge", 0.0), 3),
        seconds_by_phase={name: round(seconds, 4) for name, seconds in laps.items()},
        seconds_train_by_phase={name: round(seconds, 4) for name, seconds in result.trained.seconds_by_phase.items()},
        eval_verdicts=item_verdicts(result.held_out),
        weights_sha256=digest,
    )


def after_round(run: Run, result: RoundResult, save: Callable[[Run], None]) -> RoundRecord:
    """Record the round, checkpoint it with ``save(run)``, and decide (on every rank alike) whether to stop."""
    record = build_record(run, result)
    run.report["rounds"].append(record.to_dict())
    run.log(table_row(record.to_dict()))
    if record.eval_accuracy > run.best_eval:
        run.best_eval, run.rounds_since_best = record.eval_accuracy, 0
    else:
        run.rounds_since_best += 1
    save(run)
    if distributed.is_main():
        from .plugins import round_end_stop_reason  # the plugin manager loads plugins: not at import time

        reason = round_end_stop_reason(run=RunView.of(run), record=record)
        if reason:
            run.stop(reason)
    patience = run.config.patience
    if patience is not None and run.rounds_since_best >= patience:
        run.stop(f"held-out accuracy has not improved for {patience} round(s)")
    run.report["stop_reason"] = distributed.broadcast(run.report.get("stop_reason"))
    if run.stopped:
        save(run)
    return record


def run_started(run: Run) -> None:
    """``boostlora_run_start``, on the process that writes (rank 0)."""
    if distributed.is_main():
        from .plugins import pm

        pm.hook.boostlora_run_start(run=RunView.of(run))


def run_ended(run: Run) -> None:
    """``boostlora_run_end`` with a copy of the final report, on rank 0."""
    if distributed.is_main():
        from .plugins import pm

        pm.hook.boostlora_run_end(run=RunView.of(run), report=copy.deepcopy(run.report))
