"""The run configuration: one typed record, filled from defaults, a task preset, a YAML file and overrides.

Every setting the paper leaves open (docs/reconstructed-choices.md) is a field here with its likely default, so a run
directory's ``config.yaml`` states the whole experiment. Unknown keys and wrong types are refused by name.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import stat
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from boostlora.foundation.errors import ConfigError

#: How many characters of a bad value an error message shows: a value can be anything a user pasted.
SHOWN_CHARS = 40
#: The seeds every library accepts (numpy's, Python's, torch's): 0 .. 2**32 - 1.
SEED_MAX = 2**32 - 1


def shown(value: Any) -> str:
    """``repr(value)``, cut to a short prefix for an error message."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def bounds(*, at_least: float | None = None, above: float | None = None, at_most: float | None = None,
           below: float | None = None) -> dict[str, float]:
    """Field metadata for the range a number (or every number of a list) must lie in; checked by ``check_bounds``."""
    given = {"at_least": at_least, "above": above, "at_most": at_most, "below": below}
    return {key: value for key, value in given.items() if value is not None}


def _range_text(limits: Mapping[str, Any]) -> str:
    def number(limit: float) -> str:
        return str(limit) if isinstance(limit, int) else f"{limit:g}"

    words = {"at_least": "at least", "above": "greater than", "at_most": "at most", "below": "less than"}
    low = next(((kind, limits[kind]) for kind in ("at_least", "above") if kind in limits), None)
    high = next(((kind, limits[kind]) for kind in ("at_most", "below") if kind in limits), None)
    if low and high and (low[0], high[0]) in (("at_least", "at_most"), ("above", "below")):
        exclusive = low[0] == "above"
        return f"between {number(low[1])} and {number(high[1])}" + (" (exclusive)" if exclusive else "")
    return " and ".join(f"{words[part[0]]} {number(part[1])}" for part in (low, high) if part is not None)


def check_bounds(name: str, value: Any, metadata: Mapping[str, Any]) -> None:
    """Refuse a number outside the range ``metadata`` declares (see ``bounds``); None and non-numbers pass."""
    limits = {key: metadata[key] for key in ("at_least", "above", "at_most", "below") if key in metadata}
    if not limits or value is None:
        return
    for item in value if isinstance(value, (list, tuple)) else [value]:
        if not isinstance(item, (int, float)) or isinstance(item, bool):
            continue
        inside = (
            item >= limits.get("at_least", -math.inf) and item > limits.get("above", -math.inf)
            and item <= limits.get("at_most", math.inf) and item < limits.get("below", math.inf)
        )
        if not inside:
            got = shown(item) if item is value else f"{shown(item)} in {shown(value)}"
            raise ConfigError(f"{name} must be {_range_text(limits)}, got {got}")


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
    r: int = field(default=2, metadata={"help": "singular directions per round (TinyLoRA's r)", **bounds(at_least=1)})
    u: int = field(default=1, metadata={"help": "trainable numbers per module group per round (TinyLoRA's u)", **bounds(at_least=1)})
    weight_tying: float = field(
        default=1.0,
        metadata={"help": "share v across target modules: 0 none, 1 all (peft's weight_tying)", **bounds(at_least=0, at_most=1)},
    )
    projections: Projections = field(
        default="per_round",
        metadata={"help": "per_round: each round draws its own fixed random projections P (seeded by the round); "
                  "shared: every round reuses round 0's P"},
    )
    targets: list[str] | None = field(
        default=None, metadata={"help": "module-name suffixes to adapt; the task's default if unset"}
    )
    max_rounds: int = field(default=4, metadata={"help": "boosting rounds at most", **bounds(at_least=1)})
    patience: int | None = field(
        default=None,
        metadata={"help": "stop when validation accuracy has not improved for this many rounds", **bounds(at_least=1)},
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
        metadata={"help": "add this fraction (of the failure-set size) of correctly answered examples to a round",
                  **bounds(at_least=0)},
    )
    step_sizes: list[float] | None = field(
        default=None,
        metadata={
            "help": "after training, scale the round's update by the best of these on a validation slice of the "
            "train split (include 0 to skip harmful rounds); unset: merge as trained"
        },
    )
    line_search_size: int | None = field(
        default=64,
        metadata={"help": "train examples used to choose the step size (unset: the whole train split)", **bounds(at_least=1)},
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
                  "none, and as the measured split when evaluate_on=validation", **bounds(above=0, below=1)},
    )
    seed: int = field(
        default=0, metadata={"help": "seed for data, projections and training (0 to 2**32-1)", **bounds(at_least=0, at_most=SEED_MAX)}
    )
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or cuda:N"})
    dtype: Literal["float32", "bfloat16", "float16"] = field(
        default="float32",
        metadata={"help": "the model's dtype: float32 (the default, and right on CPUs) or bfloat16 (the usual choice "
                  "on GPUs); the one-time SVD, the rounds' cores and every merge stay in fp32 whatever it is"},
    )
    threads: int | None = field(
        default=None,
        metadata={"help": "torch CPU threads for the run (unset: torch's default); 1 suits tiny models",
                  **bounds(at_least=1, at_most=4096)},
    )
    svd: Literal["full", "lowrank"] = field(
        default="full",
        metadata={"help": "how the one-time SVD is computed: full (exact, the default) or lowrank (randomized, "
                  "kept per module only when its singular triplets pass a residual check, else exact)"},
    )
    merge_tolerance: float = field(
        default=1e-4,
        metadata={"help": "largest relative gap allowed between adapted and merged layer outputs", **bounds(above=0)},
    )
    save_final: bool = field(default=True, metadata={"help": "write final/ with the merged model"})
    report_to: list[str] = field(
        default_factory=list,
        metadata={"help": "experiment trackers that receive every round's record and every optimizer step's metrics, "
                  "through transformers' integrations: none (the default), all (every installed one), or names "
                  "such as tensorboard, wandb, mlflow"},
    )
    show_progress: bool = field(default=True, metadata={"help": "progress bars on evaluation and training"})

    def validate(self) -> None:
        """Refuse impossible values by name, before anything is loaded: every field's range (``bounds``), then
        what no single field says."""
        for name, spec in FIELDS.items():
            check_bounds(name, getattr(self, name), spec.metadata)
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
            if isinstance(items, (list, tuple)) and all(
                (isinstance(v, item) or (item is float and isinstance(v, int))) and not (item is not bool and isinstance(v, bool))
                for v in items
            ):
                if item is float and not all(math.isfinite(v) for v in items):
                    raise ConfigError(f"{name} must hold finite numbers, got {shown(value)}")
                return [item(v) for v in items]
            errors.append(f"a list of {item.__name__}")
        elif origin is dict:
            if isinstance(value, Mapping):
                names = [key for key in value if not isinstance(key, str)]
                if names and typing.get_args(option)[:1] == (str,):
                    raise ConfigError(f"{name} names must be text, got {shown(names[0])}")
                return dict(value)
            errors.append("a mapping")
        elif option is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if not math.isfinite(value):
                    raise ConfigError(f"{name} must be a finite number, got {shown(value)}")
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
    raise ConfigError(f"{name} must be {' or '.join(errors)}, got {shown(value)}")


#: A config file larger than this is refused before it is parsed (a settings file is a few hundred bytes).
MAX_CONFIG_BYTES = 1 << 20
#: Settings nested deeper than this, or with more values than ``MAX_VALUES``, are refused while they are parsed.
MAX_DEPTH = 32
MAX_VALUES = 10_000


class SettingsRefused(yaml.YAMLError):
    """YAML that parses but that settings may not hold (an alias, a duplicate key, too deep or too many values)."""


class SettingsLoader(yaml.SafeLoader):
    """YAML as settings are read: numbers as YAML 1.2 reads them (``2e-3`` and ``1e-3`` are numbers, not text),
    no aliases (``*name``: a nested alias expands exponentially), no duplicate keys, bounded depth and size."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0
        self._values = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise SettingsRefused(f"uses a YAML alias (line {mark.line + 1}): write the value out instead")
        self._values += 1
        if self._values > MAX_VALUES:
            raise SettingsRefused(f"holds more than {MAX_VALUES} values")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise SettingsRefused(f"is nested deeper than {MAX_DEPTH} levels (line {mark.line + 1})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the base class refuses it by name
                continue
            if duplicate:
                raise SettingsRefused(f"holds the key {shown(key)} twice (again at line {key_node.start_mark.line + 1})")
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 reads a number without a dot or with an unsigned exponent (2e-3, 1e3, 1.5e3) as a string; YAML 1.2 and
# every user read it as a number. Added after the built-in resolvers, so integers and YAML 1.1 floats match first.
SettingsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


class _SettingsDumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # config.yaml is read back by SettingsLoader, which refuses aliases
        return True


def dump_settings(settings: Mapping[str, Any]) -> str:
    """Settings as YAML that ``load_yaml`` reads back (no aliases, keys in their order)."""
    return yaml.dump(dict(settings), Dumper=_SettingsDumper, sort_keys=False)


def parse_yaml(text: str) -> Any:
    """A YAML value as settings read it (see ``SettingsLoader``)."""
    return yaml.load(text, Loader=SettingsLoader)


def check_setting(name: str, value: Any) -> Any:
    """``value`` checked (and converted) as the setting ``name``, for the few settings read before the rest."""
    return _coerce(name, value)


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` with a YAML value; ``objective_options.lr=1e-3`` sets one key inside a mapping."""
    if "=" not in text:
        raise ConfigError(f"override {shown(text)} is not of the form key=value")
    key, raw = text.split("=", 1)
    try:
        value = parse_yaml(raw) if raw != "" else None
    except SettingsRefused as exc:
        raise ConfigError(f"override {shown(text)}: the value {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {shown(text)}: value is not valid YAML ({exc.__class__.__name__})") from exc
    return key.strip(), value


#: The settings that are mappings of options: a layer merges into them key by key unless it replaces them whole.
OPTION_MAPPINGS = ("objective_options", "task_options")
#: Appended to an option mapping's name, replaces the whole mapping instead of merging into it:
#: ``objective_options!={steps: 2}`` (command line) or ``objective_options!: {steps: 2}`` (a --config file).
REPLACE_MARK = "!"


def merge_settings(base: dict[str, Any], updates: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Layer ``updates`` over ``base``; dotted keys reach into the option mappings, and ``objective_options!`` /
    ``task_options!`` replace a mapping whole (what a preset put there is dropped)."""
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in updates.items():
        if not isinstance(key, str):
            raise ConfigError(f"setting names in {source} must be text, got {shown(key)}")
        if key.endswith(REPLACE_MARK):
            head = key[: -len(REPLACE_MARK)].strip()
            if head not in OPTION_MAPPINGS:
                raise ConfigError(f"'{shown(key)[1:-1]}' in {source}: only {' and '.join(OPTION_MAPPINGS)} can be replaced "
                                  "whole with NAME!=")
            if value is not None and not isinstance(value, Mapping):
                raise ConfigError(f"{head}! in {source} must be a mapping of options, got {shown(value)}")
            merged[head] = dict(value or {})
            continue
        head, _, tail = key.partition(".")
        if head not in FIELDS:
            raise ConfigError(f"unknown setting {shown(head)} in {source} (known: {', '.join(sorted(FIELDS))})")
        if tail:
            if head not in ("objective_options", "task_options"):
                raise ConfigError(f"setting '{head}' in {source} has no sub-keys (got {shown(key)})")
            merged.setdefault(head, {})
            merged[head] = {**merged[head], tail: value}
        elif head in ("objective_options", "task_options") and isinstance(value, Mapping):
            merged[head] = {**merged.get(head, {}), **value}
        else:
            merged[head] = value
    return merged


def merge_layers(layers: list[tuple[str, Mapping[str, Any]]], default_objective: str | None = None
                 ) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """The settings of ``layers`` (lowest first, each named by its source), which layer set each one
    (``objective_options.lr`` -> "preset 'default'"), and notes for the user.

    A layer that switches the objective (``objective=sft`` over a preset written for grpo) drops the
    ``objective_options`` the layers below it set: they belong to the other objective, and merging them would
    either be refused as unknown options or silently carry one objective's tuning into another. A note names what
    was dropped; the same layer may set the new objective's options.
    """
    settings: dict[str, Any] = {}
    origin: dict[str, str] = {}
    notes: list[str] = []
    for source, layer in layers:
        before = settings.get("objective") or default_objective
        switched = layer.get("objective")
        if isinstance(switched, str) and before is not None and switched != before and settings.get("objective_options"):
            dropped = sorted(settings["objective_options"])
            notes.append(f"objective {switched} from {source} replaces {before}: dropped {before}'s objective_options "
                         f"({', '.join(dropped)}) set by {origin.get('objective_options.' + dropped[0], 'a lower layer')}; "
                         f"set {switched}'s with objective_options.KEY=VALUE")
            settings["objective_options"] = {}
            origin = {k: v for k, v in origin.items() if not k.startswith("objective_options.")}
        settings = merge_settings(settings, layer, source)
        for key, value in layer.items():
            head, _, tail = key.partition(".")
            if key.endswith(REPLACE_MARK):
                head = key[: -len(REPLACE_MARK)].strip()
                origin = {k: v for k, v in origin.items() if not k.startswith(head + ".")}
                origin.update({f"{head}.{name}": f"{source} ({head}! replaced the mapping)" for name in value or {}})
                notes.append(f"{head} replaced whole by {source}: options set below it were dropped")
            elif tail or not (head in OPTION_MAPPINGS and isinstance(value, Mapping)):
                origin[key] = source
            else:
                origin.update({f"{head}.{name}": source for name in value})
    return settings, origin, notes


def read_config_text(path: Path) -> str:
    """The text of a config file, refusing before it is read anything that is not a regular file or is too large.

    A FIFO or a device would block or never end; the file is opened without blocking and checked on its handle.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a pipe" if stat.S_ISFIFO(info.st_mode) else "not a regular file"
            raise ConfigError(f"config file {path} is {kind}: give a YAML file")
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {path} is {info.st_size} bytes, more than a settings file holds "
                              f"(at most {MAX_CONFIG_BYTES})")
        chunks, size = [], 0
        while size <= MAX_CONFIG_BYTES:  # a file that grows, or reports no size (/proc), is cut off here
            chunk = os.read(fd, MAX_CONFIG_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is more than {MAX_CONFIG_BYTES} bytes, more than a settings file holds")
    data = b"".join(chunks)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not text (byte {exc.start} is not UTF-8)") from exc


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a config file, refusing anything that is not a mapping of settings (see ``read_config_text`` and
    ``SettingsLoader`` for what is refused before and while it is parsed)."""
    text = read_config_text(Path(path))
    try:
        data = parse_yaml(text)
    except SettingsRefused as exc:
        raise ConfigError(f"config file {path} {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}".splitlines()[0]) from exc
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
            raise ConfigError(f"unknown setting {shown(key)} (known: {', '.join(sorted(FIELDS))})")
        values[key] = _coerce(key, value)
    config = RunConfig(**values)
    config.validate()
    return config
