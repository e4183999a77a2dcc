"""Where a GRPO round's time goes: rollouts, reward, log-prob passes, loss and backward, optimizer, setup.

TRL times these parts itself (``profiling_context``) but reports them only to wandb, mlflow or trackio, and
keeps ``step_time`` for the whole step only. So the trainer subclass that the ``grpo`` objective uses already
(for dynamic sampling) is wrapped once more, timing the methods TRL calls for each part, and a Trainer callback
marks each optimizer step's start and end. The parts are derived from nested timers, so they never count a
second twice and sum to the round's training time (what no timer covers is ``other``):

* ``setup``: building the GRPOConfig, dataset and trainer;
* ``screen``: sampling and scoring the round's examples before training (``screen_samples``); zero when off;
* ``trainer_start``: from ``trainer.train()`` to the Trainer's ``on_train_begin`` (accelerate's ``free_memory``,
  a full ``gc.collect``, is most of it: about 0.4 s a round on a tiny model in a test process);
* ``generation``: ``_generate_and_score_completions`` minus the two below (sampling the rollouts, decoding,
  advantages, dynamic sampling);
* ``reward``: the task's reward function;
* ``scoring_logprobs``: no-grad log-prob passes inside scoring (the KL reference with ``beta > 0``, the old
  policy with several iterations per generation); zero otherwise;
* ``loss_backward``: the rest of ``training_step``: the policy's forward pass with gradients, loss, backward;
* ``optimizer``: from the end of ``training_step`` to the step's end: clipping, ``optimizer.step``, schedule;
* ``other``: everything else in the round (data loading, logging, the Trainer's end, cleanup).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from boostlora.foundation.memory import PeakMemory

#: The parts a GRPO round's training time is split into, in the order a step runs them.
PARTS = ("setup", "screen", "trainer_start", "generation", "reward", "scoring_logprobs", "loss_backward", "optimizer", "other")


class RoundClock:
    """Seconds per named timer, summed over a round; knows which timers are running (for nested ones)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.running: set[str] = set()
        self.started = time.perf_counter()
        self._marks: dict[str, float] = {}
        self.memory = PeakMemory()  # peak resident MiB of each timer, nested ones included in their parents

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        self.running.add(name)
        try:
            with self.memory(name):
                yield
        finally:
            self.running.discard(name)
            self.seconds[name] += time.perf_counter() - start

    def start(self, name: str) -> None:
        """Open a timer that a later ``stop`` closes (for callbacks, which see a start and an end separately)."""
        self._marks[name] = time.perf_counter()

    def stop(self, name: str) -> None:
        start = self._marks.pop(name, None)
        if start is not None:
            self.seconds[name] += time.perf_counter() - start

    def split(self) -> dict[str, float]:
        """The round's parts (``PARTS``), each non-negative, summing to the time since the clock was made."""
        s = self.seconds
        total = time.perf_counter() - self.started
        scoring = s["scoring"]
        parts = {
            "setup": max(0.0, s["setup"] - s["screen"]),
            "screen": s["screen"],
            "trainer_start": s["trainer_start"],
            "generation": max(0.0, scoring - s["reward"] - s["scoring_logprobs"]),
            "reward": s["reward"],
            "scoring_logprobs": s["scoring_logprobs"],
            "loss_backward": max(0.0, s["training_step"] - scoring),
            "optimizer": max(0.0, s["step"] - s["training_step"]),
        }
        parts["other"] = max(0.0, total - sum(parts.values()))
        return parts

    def peaks(self) -> dict[str, float]:
        """Peak resident MiB of the step's timed parts: ``scoring`` (rollouts and rewards), ``reward``,
        ``scoring_logprobs``, ``training_step`` (scoring plus the loss's forward and backward)."""
        return dict(self.memory.peaks)


def timed_trainer(base: type, clock: RoundClock) -> type:
    """A subclass of ``base`` (TRL's GRPOTrainer or our subclass of it) that times its parts on ``clock``.

    Each override calls the parent unchanged: timing only, the round's numbers are the same with or without it.
    """

    class TimedGRPOTrainer(base):  # type: ignore[misc, valid-type]
        def training_step(self, *args: Any, **kwargs: Any) -> Any:
            with clock("training_step"):
                return super().training_step(*args, **kwargs)

        def _generate_and_score_completions(self, inputs: Any) -> dict[str, Any]:
            with clock("scoring"):
                return super()._generate_and_score_completions(inputs)

        def _get_per_token_logps_and_entropies(self, *args: Any, **kwargs: Any) -> Any:
            if "scoring" not in clock.running:  # the loss's own pass is part of loss_backward
                return super()._get_per_token_logps_and_entropies(*args, **kwargs)
            with clock("scoring_logprobs"):
                return super()._get_per_token_logps_and_entropies(*args, **kwargs)

    return TimedGRPOTrainer


def step_callback(base: type, clock: RoundClock) -> Any:
    """A Trainer callback (``base`` is transformers' TrainerCallback) timing each optimizer step, start to end,
    and closing ``trainer_start`` (opened just before ``trainer.train()``) when training begins."""

    class StepClock(base):  # type: ignore[misc, valid-type]
        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            clock.stop("trainer_start")

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            clock.start("step")

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            clock.stop("step")

    return StepClock()
