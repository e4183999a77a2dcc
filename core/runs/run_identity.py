"""Which settings a checkpoint is tied to, and which ones ``--resume`` may change on purpose.

A checkpoint stores the settings its rounds were made with. Replaying its rounds under other settings (another
model, strategy, r, seed, targets, objective, ...) would put the recorded updates onto other directions or
another model and report it as the same run, so ``--resume`` refuses a ``config.yaml`` that contradicts the
checkpoint and names the setting. ``RESUMABLE`` lists the settings that decide how long a run goes on and where
it runs, not what its rounds are: those may change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from boostlora.foundation.config import RunConfig
from boostlora.foundation.digest import state_digest
from boostlora.foundation.errors import ConfigError
from boostlora.runs.checkpoint import CHECKPOINT, CONFIG

#: Settings ``--resume`` may change, and why each is safe to change.
RESUMABLE: dict[str, str] = {
    "max_rounds": "how many rounds the run may take; not below the rounds already merged",
    "patience": "when the run stops",
    "keep": "which round final/ holds; the rounds themselves do not change",
    "save_final": "whether final/ is written",
    "show_progress": "progress bars only",
    "device": "where the run continues (bit-identity across devices is not promised)",
    "threads": "CPU threads (bit-identity across thread counts is not promised)",
    "merge_tolerance": "how strictly each merge is checked; it does not change a merge",
}


def weight_settings(config: RunConfig, model_name: str, targets: list[str]) -> dict[str, Any]:
    """The settings that decide a run's weights: all of them but ``RESUMABLE``, with model and targets resolved."""
    settings = {k: v for k, v in config.to_dict().items() if k not in RESUMABLE}
    settings.update(model=model_name, targets=list(targets))
    return settings


def settings_digest(config: RunConfig, model_name: str, targets: list[str]) -> str:
    """SHA-256 of ``weight_settings``: equal exactly when a resume would replay the same rounds."""
    return state_digest(weight_settings(config, model_name, targets))


def check_resume(recorded: dict[str, Any], config: RunConfig, rounds_done: int, config_path: Path, checkpoint: Path) -> None:
    """Refuse settings that contradict the checkpoint's, naming the first one; allow ``RESUMABLE`` changes."""
    current = config.to_dict()
    for key in sorted(set(recorded) | set(current)):
        if key in RESUMABLE or recorded.get(key) == current.get(key):
            continue
        allowed = ", ".join(RESUMABLE)
        raise ConfigError(
            f"{config_path} sets {key}: {current.get(key)!r}, but {checkpoint} was made with {key}: "
            f"{recorded.get(key)!r}; --resume may change only {allowed} (start a new run for other settings)"
        )
    if config.max_rounds < rounds_done:
        raise ConfigError(
            f"{config_path} sets max_rounds: {config.max_rounds}, but {checkpoint} already holds {rounds_done} merged "
            f"round(s): use max_rounds >= {rounds_done}"
        )


def check_same_model(state: dict[str, Any], identity: str, run_dir: Path) -> None:
    """A resume must resolve to the model and targets its checkpoint was made with (``settings_digest``)."""
    if state["report"].get("settings_sha256") != identity:
        raise ConfigError(
            f"{run_dir / CONFIG} resolves to another model or other targets than {run_dir / CHECKPOINT} "
            f"was made with (model {state['report'].get('model')}, targets {', '.join(state['report'].get('targets', []))})"
        )
