"""Send a run's metrics to the experiment trackers transformers supports (the ``report_to`` setting): every round's
record and every optimizer step's metrics, as one tracker run for the whole boosting run.

The trackers are transformers' own integration callbacks (TensorBoard, W&B, MLflow, ...), driven as a Trainer
drives them: ``on_train_begin``, then ``on_log`` per step and per round, then ``on_train_end``. The objectives'
trainers keep ``report_to=none``, because GRPO builds a Trainer per round, which would open a tracker run per round.
Their step logs come back in ``TrainResult.step_logs`` and are relayed here.

One axis for steps and rounds: step s (1-based) of round k is global step ``k * steps + s``, since every round of
a run takes the same number of optimizer steps, so a resumed run continues the same axis. A round's record is
logged at the step where its training ended, and the base model's accuracy at step 0. transformers' callbacks
name the scalars ``eval/accuracy``, ``eval/validation_accuracy``, ``train/round_*`` and ``train/<step metric>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from boostlora.contract.objective import TrainResult
from boostlora.contract.records import RoundRecord
from boostlora.foundation import distributed
from boostlora.foundation.config import RunConfig, shown
from boostlora.foundation.errors import ConfigError

#: Folder of the run directory where trackers that write local files (TensorBoard's event files) put them.
TRACKING = "tracking"
#: The pip package behind each integration whose name is not its package's.
PACKAGES = {"comet_ml": "comet-ml", "azure_ml": "azureml-core", "dagshub": "dagshub mlflow", "flyte": "flytekit",
            "kubeflow": "kubeflow-training"}


def tracker_names(report_to: list[str]) -> list[str]:
    """The trackers ``report_to`` names, each known to transformers and installed; otherwise one ``ConfigError``.

    ``none`` (or nothing) means no tracker and ``all`` every installed one, as in transformers' ``report_to``.
    """
    names = list(dict.fromkeys(report_to))
    if names in ([], ["none"]):
        return []
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK, get_available_reporting_integrations

    if len(names) > 1 and ({"none", "all"} & set(names)):
        raise ConfigError(f"report_to: 'none' and 'all' stand alone, got {shown(report_to)}")
    available = get_available_reporting_integrations()
    if names == ["all"]:
        if not available:
            raise ConfigError("report_to=all: no tracker that transformers supports is installed "
                              "(pip install 'boostlora[track]' for TensorBoard)")
        return available
    for name in names:
        if name not in INTEGRATION_TO_CALLBACK:
            raise ConfigError(f"report_to: unknown tracker {shown(name)} (transformers supports: none, all, "
                              f"{', '.join(sorted(INTEGRATION_TO_CALLBACK))})")
        if name not in available:
            raise ConfigError(f"report_to: tracker '{name}' is not installed: pip install {PACKAGES.get(name, name)}")
    return names


def round_scalars(record: RoundRecord) -> dict[str, float]:
    """A round's record as tracker scalars: accuracies, the task's numeric metrics, size, rank and time."""
    scalars: dict[str, float] = {"eval_accuracy": record.eval_accuracy}
    if record.validation_accuracy is not None:
        scalars["eval_validation_accuracy"] = record.validation_accuracy
    for name, value in record.eval_metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            scalars[f"eval_{name}"] = float(value)
    scalars.update(
        round=record.round,
        round_train_accuracy=record.train_accuracy,
        round_failures=record.n_failures,
        round_trainable_params=record.trainable_params,
        round_cumulative_params=record.cumulative_params,
        round_rank=max(record.effective_rank.values(), default=0),
        round_step_size=record.step_size,
        round_seconds=record.seconds,
    )
    return scalars


class Tracker:
    """transformers' integration callbacks for ``names``, opened at the first round a run records."""

    def __init__(self, names: list[str], output_dir: Path, run_name: str) -> None:
        self.names, self.output_dir, self.run_name = names, output_dir, run_name
        self._callbacks: list[Any] | None = None
        self._args: Any = None
        self._state: Any = None
        self._control: Any = None

    @classmethod
    def for_run(cls, config: RunConfig, run_dir: Path | None) -> Tracker | None:
        """The run's tracker, or None without ``report_to`` (and on every process but the one that writes)."""
        names = tracker_names(config.report_to)
        if not names or not distributed.is_main():
            return None
        output = (Path(run_dir) if run_dir is not None else Path.cwd()) / TRACKING
        return cls(names, output, f"{config.plugin}-{config.task or 'default'}-{config.strategy}-seed{config.seed}")

    def _open(self) -> None:
        from transformers import TrainingArguments
        from transformers.integrations import get_reporting_integration_callbacks
        from transformers.trainer_callback import TrainerControl, TrainerState

        self._args = TrainingArguments(output_dir=str(self.output_dir), report_to=self.names, run_name=self.run_name)
        self._state, self._control = TrainerState(), TrainerControl()
        self._callbacks = [callback() for callback in get_reporting_integration_callbacks(self.names)]
        for callback in self._callbacks:
            callback.on_train_begin(self._args, self._state, self._control)

    def log(self, step: int, scalars: dict[str, float]) -> None:
        """Send ``scalars`` at global step ``step`` to every tracker."""
        if self._callbacks is None:
            self._open()
        self._state.global_step = step
        self._state.log_history.append({**scalars, "step": step})
        for callback in self._callbacks or []:
            callback.on_log(self._args, self._state, self._control, logs=dict(scalars))

    def log_round(self, report: dict[str, Any], record: RoundRecord, trained: TrainResult) -> None:
        """The round's step metrics, then its record; before round 0, the base model's accuracies at step 0."""
        if record.round == 0:
            base = {"eval_accuracy": report["base_eval_accuracy"]}
            if report.get("base_validation_accuracy") is not None:
                base["eval_validation_accuracy"] = report["base_validation_accuracy"]
            self.log(0, base)
        offset = record.round * trained.steps
        for step, row in enumerate(trained.step_logs, start=1):
            self.log(offset + step, row)
        self.log(offset + trained.steps, round_scalars(record))

    def close(self) -> None:
        """Let every tracker finish its run (flush and close files, end remote runs)."""
        for callback in self._callbacks or []:
            callback.on_train_end(self._args, self._state, self._control)
        self._callbacks = None
