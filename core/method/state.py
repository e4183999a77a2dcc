"""A run's live state and what one round hands back: below both the round that fills them and the bookkeeping.

``Run`` is the mutable state ``method.round.boosting_round`` works on; ``RoundResult`` is what a round produced
before any bookkeeping; ``Phases`` times a round's steps. They live here, under the method and the run layer
both, so that the recorder and the checkpoint read them without importing the loop, and the loop never imports
the recorder. Lifecycle hooks never see these: they get ``contract.views.RunView``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from boostlora.contract.objective import Objective, TrainResult
from boostlora.contract.task import Task
from boostlora.contract.values import Evaluation, Splits
from boostlora.foundation import distributed
from boostlora.foundation.config import RunConfig
from boostlora.foundation.memory import PeakMemory
from boostlora.method.merge import RankLedger
from boostlora.method.subspace import SubspaceAllocator


@dataclass
class Run:
    """The live, mutable state of a run, private to core: lifecycle hooks receive a read-only ``RunView``."""

    config: RunConfig
    task: Task
    objective: Objective
    model: nn.Module
    splits: Splits
    targets: list[str]
    allocator: SubspaceAllocator
    device: torch.device
    run_dir: Path | None
    report: dict[str, Any]
    ledger: RankLedger
    round_cores: list[dict[str, torch.Tensor]] = field(default_factory=list)
    best_eval: float = float("-inf")  # best reported (held-out) accuracy so far: shown to hooks, never decides
    best_validation: float = float("-inf")  # best validation accuracy so far: patience and ``keep: best`` read it
    best_round: int | None = None  # the round that reached ``best_validation``; None is the base model
    rounds_since_best: int = 0  # rounds since ``best_validation`` last improved

    @property
    def rounds_done(self) -> int:
        return len(self.report["rounds"])

    def stop(self, reason: str) -> None:
        if not self.report.get("stop_reason"):
            self.report["stop_reason"] = reason

    @property
    def stopped(self) -> bool:
        return bool(self.report.get("stop_reason"))

    def log(self, line: str) -> None:
        """A line on stdout; through ``tqdm.write`` so that on a terminal the run's rounds bar is redrawn below it
        instead of being torn by it (without a bar it is a plain print)."""
        if self.config.show_progress and distributed.is_main():
            import sys

            from tqdm.auto import tqdm

            tqdm.write(line, file=sys.stdout)
            sys.stdout.flush()


class Phases:
    """Wall time and peak resident memory of a round's phases: ``with phases("train"): ...``; the record reads them.

    Every step of a round that takes measurable time runs inside a phase, so the laps add up to the round's
    ``seconds`` (what is left is Python between phases) and ``report.json`` says where a round's time and memory
    went.
    """

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.laps: dict[str, float] = {}
        self.memory = PeakMemory()

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            with self.memory(name):
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
    held_out: Evaluation  # the held-out split, after the merge (reported only)
    validation: Evaluation  # the validation split, after the merge (what decisions read)
    n_trained_on: int  # failures plus replayed examples
    trainable_params: int
    trained: TrainResult
    step_size: float
    cores: dict[str, torch.Tensor]  # the merged update's r x r core per target module
    merge_gap: float
    phases: Phases = field(default_factory=Phases)
