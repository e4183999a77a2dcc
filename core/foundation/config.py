"""The run configuration: one typed record, filled from defaults, a task preset, a YAML file and overrides.

Every setting the paper leaves open (docs/reconstructed-choices.md) is a field here with its likely default, so a run
directory's ``config.yaml`` states the whole experiment. Unknown keys and wrong types are refused by name.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from boostlora.foundation.errors import ConfigError

Strategy = Literal["rotate", "top"]
BlockScale = Literal["raw", "matched", "gain"]
Projections = Literal["per_round", "shared"]


@dataclass
class RunConfig:
    """One boosting run. Field docs double as ``boostlora run --help-config`` text."""

    plugin: str = field(metadata={"help": "task plugin name (see `boostlora plugins`)"})
    task: str | None = field(default=None, metadata={"help": "task within the plugin, when it has several"})
    model: str | None = field(default=None, metadata={"help": "hub name or local path; the task's default if unset"})
    strategy: Strategy = field(
        default="rotate",
        metadata={"help": "rotate: round k uses singular directions [k*r,(k+1)*r); top: always [0,r)"},
    )
    block_scale: BlockScale = field(
        default="matched",
        metadata={
            "help": "raw: scale a round's block by its own singular values; matched: rescale every block to the "
            "top block's mean singular value so later rounds are not smaller steps; gain: rescale every block so it "
            "moves the layer's output on a sample of the training inputs as much as the top block (measured once, "
            "before round 0)"
        },
    )
    r: int = field(default=2, metadata={"help": "singular directions per round (TinyLoRA's r)"})
    u: int = field(default=1, metadata={"help": "trainable numbers per module group per round (TinyLoRA's u)"})
    weight_tying: float = field(
        default=1.0,
        metadata={"help": "share v across target modules: 0 none, 1 all (peft's weight_tying)"},
    )
    projections: Projections = field(
        default="per_round",
        metadata={"help": "per_round: each round draws its own fixed random projections P (seeded by the round); "
                  "shared: every round reuses round 0's P"},
    )
    targets: list[str] | None = field(
        default=None, metadata={"help": "module-name suffixes to adapt; the task's default if unset"}
    )
    max_rounds: int = field(default=4, metadata={"help": "boosting rounds at most"})
    patience: int | None = field(
        default=None, metadata={"help": "stop when validation accuracy has not improved for this many rounds"}
    )
    keep: Literal["best", "last"] = field(
        default="best",
        metadata={"help": "which model final/ and the export hold: best, the round with the highest validation "
                  "accuracy (ties go to the earlier, smaller update; the base model when no round beat it); last"},
    )
    train_on: Literal["failures", "all"] = field(
        default="failures",
        metadata={
            "help": "failures: a round trains on what the model gets wrong (BoostLoRA); all: on the whole train "
            "split (with max_rounds=1 and strategy=top this is single-shot TinyLoRA, the paper's baseline)"
        },
    )
    replay_fraction: float = field(
        default=0.0,
        metadata={"help": "add this fraction (of the failure-set size) of correctly answered examples to a round"},
    )
    step_sizes: list[float] | None = field(
        default=None,
        metadata={
            "help": "after training, scale the round's update by the best of these on a validation slice of the "
            "train split (include 0 to skip harmful rounds); unset: merge as trained"
        },
    )
    line_search_size: int | None = field(
        default=64, metadata={"help": "train examples used to choose the step size (unset: the whole train split)"}
    )
    objective: str | None = field(default=None, metadata={"help": "weak-learner trainer; the task's default if unset"})
    objective_options: dict[str, Any] = field(default_factory=dict, metadata={"help": "options of the objective"})
    task_options: dict[str, Any] = field(default_factory=dict, metadata={"help": "options of the task"})
    evaluate_on: Literal["held-out", "validation"] = field(
        default="held-out",
        metadata={"help": "held-out: measure on the task's held-out split; validation: carve validation_fraction "
                  "of the train split (seeded), train on the rest and measure there, to choose settings "
                  "without touching the held-out split"},
    )
    validation_fraction: float = field(
        default=0.25,
        metadata={"help": "share of the train split carved out (seeded) as the validation split when the task has "
                  "none, and as the measured split when evaluate_on=validation"}
    )
    seed: int = field(default=0, metadata={"help": "seed for data, projections and training"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or cuda:N"})
    dtype: Literal["float32", "bfloat16", "float16"] = field(
        default="float32",
        metadata={"help": "the model's dtype: float32 (the default, and right on CPUs) or bfloat16 (the usual choice "
                  "on GPUs); the one-time SVD, the rounds' cores and every merge stay in fp32 whatever it is"},
    )
    threads: int | None = field(
        default=None, metadata={"help": "torch CPU threads for the run (unset: torch's default); 1 suits tiny models"}
    )
    svd: Literal["full", "lowrank"] = field(
        default="full",
        metadata={"help": "how the one-time SVD is computed: full (exact, the default) or lowrank (randomized, "
                  "kept per module only when its singular triplets pass a residual check, else exact)"},
    )
    merge_tolerance: float = field(
        default=1e-4, metadata={"help": "largest relative gap allowed between adapted and merged layer outputs"}
    )
    save_final: bool = field(default=True, metadata={"help": "write final/ with the merged model"})
    show_progress: bool = field(default=True, metadata={"help": "progress bars on evaluation and training"})

    def validate(self) -> None:
        """Refuse impossible values by name, before anything is loaded."""
        positive = {"r": self.r, "u": self.u, "max_rounds": self.max_rounds}
        positive.update({k: v for k, v in (("line_search_size", self.line_search_size), ("threads", self.threads)) if v is not None})
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"patience must be at least 1 (or unset), got {self.patience}")
        if not 0.0 <= self.weight_tying <= 1.0:
            raise ConfigError(f"weight_tying must be between 0 and 1, got {self.weight_tying}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ConfigError(f"validation_fraction must be between 0 and 1, got {self.validation_fraction}")
        if self.replay_fraction < 0:
            raise ConfigError(f"replay_fraction must be non-negative, got {self.replay_fraction}")
        if self.targets is not None and not self.targets:
            raise ConfigError("targets is empty: name at least one module, or leave it unset for the task's default")
        if self.step_sizes is not None and not self.step_sizes:
            raise ConfigError("step_sizes is empty: give candidate scales such as [0, 0.5, 1, 2], or leave it unset")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
_HINTS = typing.get_type_hints(RunConfig)


def _coerce(name: str, value: Any, hint: Any = None) -> Any:
    """Check ``value`` against the field's type, converting the obvious cases (int -> float, str -> list).

    ``hint`` is the type to check against; by default the ``RunConfig`` field's. Task and objective options
    (``boostlora.options``) use the same rules with their own fields' types.
    """
    hint = _HINTS[name] if hint is None else hint
    if hint is Any:
        return value
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"{name} cannot be empty")
    errors = []
    for option in options:
        if option is type(None):
            continue
        origin = typing.get_origin(option)
        if origin is Literal:
            if value in typing.get_args(option):
                return value
            errors.append("one of " + ", ".join(map(str, typing.get_args(option))))
        elif origin is list:
            (item,) = typing.get_args(option)
            if item is Any:
                if isinstance(value, (list, tuple)):
                    return list(value)
                errors.append("a list")
                continue
            items = [value] if isinstance(value, (str, int, float)) else value
            if isinstance(items, (list, tuple)) and all(isinstance(v, item) or (item is float and isinstance(v, int)) for v in items):
                return [item(v) for v in items]
            errors.append(f"a list of {item.__name__}")
        elif origin is dict:
            if isinstance(value, Mapping):
                return dict(value)
            errors.append("a mapping")
        elif option is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            errors.append("a number")
        elif option is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            errors.append("an integer")
        elif option is bool:
            if isinstance(value, bool):
                return value
            errors.append("true or false")
        elif option is str:
            if isinstance(value, str):
                return value
            errors.append("a string")
    raise ConfigError(f"{name} must be {' or '.join(errors)}, got {value!r}")


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` with a YAML value; ``objective_options.lr=1e-3`` sets one key inside a mapping."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' is not of the form key=value")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override '{text}': value is not valid YAML ({exc.__class__.__name__})") from exc
    return key.strip(), value


def merge_settings(base: dict[str, Any], updates: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Layer ``updates`` over ``base``; dotted keys reach into the option mappings."""
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in updates.items():
        head, _, tail = key.partition(".")
        if head not in FIELDS:
            raise ConfigError(f"unknown setting '{head}' in {source} (known: {', '.join(sorted(FIELDS))})")
        if tail:
            if head not in ("objective_options", "task_options"):
                raise ConfigError(f"setting '{head}' in {source} has no sub-keys (got '{key}')")
            merged.setdefault(head, {})
            merged[head] = {**merged[head], tail: value}
        elif head in ("objective_options", "task_options") and isinstance(value, Mapping):
            merged[head] = {**merged.get(head, {}), **value}
        else:
            merged[head] = value
    return merged


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a config file, refusing anything that is not a mapping of settings."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}".splitlines()[0]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not text (byte {exc.start} is not UTF-8)") from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"config file {path} must hold a mapping of settings, got {type(data).__name__}")
    return dict(data)


def build_config(settings: Mapping[str, Any]) -> RunConfig:
    """A validated RunConfig from a flat mapping of settings."""
    if not settings.get("plugin"):
        raise ConfigError("no plugin given: use --plugin NAME (see `boostlora plugins`)")
    values = {}
    for key, value in settings.items():
        if key not in FIELDS:
            raise ConfigError(f"unknown setting '{key}' (known: {', '.join(sorted(FIELDS))})")
        values[key] = _coerce(key, value)
    config = RunConfig(**values)
    config.validate()
    return config
