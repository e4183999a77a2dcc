"""Which settings a checkpoint is tied to, and which ones ``--resume`` may change on purpose.

A checkpoint stores the settings its rounds were made with. Replaying its rounds under other settings (another
model, strategy, r, seed, targets, objective, ...) would put the recorded updates onto other directions or
another model and report it as the same run, so ``--resume`` refuses a ``config.yaml`` that contradicts the
checkpoint and names the setting. ``RESUMABLE`` lists the settings that decide how long a run goes on and where
it runs, not what its rounds are: those may change.

The settings name a task's data files, not their contents: a CSV edited between a start and its resume would be
trained on as if it were the same data. So a fresh start records a SHA-256 of every file a task option names
(``data_digests``; core knows no plugin's options, so any option whose value is an existing file counts), the
checkpoint carries them in its report, and ``--resume`` refuses a file that changed, naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from boostlora.foundation.config import RunConfig
from boostlora.foundation.digest import file_digest, state_digest
from boostlora.foundation.errors import ConfigError, RunDirError
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
    "report_to": "where the metrics are sent, not what they are",
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


def data_files(config: RunConfig) -> dict[str, str]:
    """Every task option whose value (or list item) names an existing file: ``{"task_options.data": "x.csv"}``."""
    found = {}
    for key, value in sorted(config.task_options.items()):
        items = value if isinstance(value, (list, tuple)) else [value]
        for i, item in enumerate(items):
            if isinstance(item, str) and item and Path(item).expanduser().is_file():
                found[f"task_options.{key}" + (f"[{i}]" if isinstance(value, (list, tuple)) else "")] = item
    return found


def data_digests(config: RunConfig) -> dict[str, dict[str, str]]:
    """The path and SHA-256 of each file ``data_files`` finds: what a fresh start records in its checkpoint."""
    digests = {}
    for key, path in data_files(config).items():
        try:
            digests[key] = {"path": path, "sha256": file_digest(Path(path).expanduser())}
        except OSError as exc:
            raise RunDirError(f"cannot read {path} ({key}): {exc.strerror or exc}") from exc
    return digests


def check_same_data(recorded: dict[str, dict[str, str]], checkpoint: Path) -> None:
    """Refuse a resume whose data files changed (or went) since ``checkpoint`` was made from them, naming the file."""
    for key, entry in sorted(recorded.items()):
        path = Path(entry["path"]).expanduser()
        try:
            same = file_digest(path) == entry["sha256"]
        except OSError as exc:
            raise ConfigError(
                f"{entry['path']} ({key}) cannot be read ({exc.strerror or exc}), but {checkpoint} was made from it: "
                "restore it to resume"
            ) from exc
        if not same:
            raise ConfigError(
                f"{entry['path']} ({key}) changed since {checkpoint} was made from it (its SHA-256 differs): --resume "
                "continues a run on the data it started with; restore the file, or start a new run"
            )
