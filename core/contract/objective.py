"""The weak-learner interface: how a round's adapter is trained.

The loop attaches a fresh, zero-initialised adapter and hands an objective the model, the examples to learn
(the failure set, plus any replay) and the parameters it may move. The objective returns when the round's
budget of steps is spent; it never merges, saves or evaluates, so every objective gets the same protocol.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import torch
from torch import nn

from boostlora.contract.options import Options as OptionsBase
from boostlora.contract.options import check_options_class
from boostlora.contract.task import Task
from boostlora.foundation.errors import ConfigError


@dataclass
class RoundContext:
    """Everything one round of training may use."""

    model: nn.Module
    task: Task
    examples: Sequence[Any]
    trainable: list[nn.Parameter]
    round: int
    seed: int
    device: torch.device
    show_progress: bool = True


@dataclass
class TrainResult:
    """What a round of training reports: optimizer steps taken, the loss curve and objective-specific numbers.

    ``seconds_by_phase`` is the objective's own split of its wall time (e.g. grpo: generation, reward, backward,
    optimizer), so a report can say where a round's training time went; empty when an objective does not split it.
    Its parts should sum to the time ``train`` took: an objective that splits its time names the rest ``other``.
    ``peak_rss_mb_by_phase`` is the peak resident memory (MiB) of the same parts, where the objective measures it.
    """

    steps: int
    losses: list[float] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    seconds_by_phase: dict[str, float] = field(default_factory=dict)
    peak_rss_mb_by_phase: dict[str, float] = field(default_factory=dict)  # the same parts' peak resident MiB
    #: One mapping of numbers per optimizer step, in order (``loss``, ``learning_rate``, grpo's ``reward``, ...):
    #: what the run's ``report_to`` trackers receive as step metrics. Not written to ``report.json``.
    step_logs: list[dict[str, float]] = field(default_factory=list)


class Objective(ABC):
    """Base class of a weak-learner trainer. Register subclasses with the ``boostlora_register_objectives`` hook."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: Typed options: a ``boostlora.Options`` dataclass with a default and help text per field. When set,
    #: ``objective_options`` are checked against its field types and ``default_options`` is derived from it.
    Options: ClassVar[type[OptionsBase] | None] = None
    #: Options the objective accepts, with their defaults; anything else is refused. (Untyped: prefer ``Options``.)
    default_options: ClassVar[Mapping[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "Options" in cls.__dict__ and cls.Options is not None:
            check_options_class(cls.__name__, cls.Options)
            cls.default_options = MappingProxyType(cls.Options.defaults())

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options: Mapping[str, Any]
        if self.Options is not None:
            self.options = self.Options.build(options, f"objective '{self.name}'", "objective_options")
            return
        options = dict(options or {})
        unknown = sorted(set(options) - set(self.default_options))
        if unknown:
            known = ", ".join(sorted(self.default_options)) or "none"
            raise ConfigError(f"objective '{self.name}' has no option(s) {', '.join(unknown)} (known: {known})")
        self.options = {**self.default_options, **options}

    def check(self, task: Task) -> None:
        """Refuse, before any training, a task this objective cannot train (raise ``ConfigError``)."""

    def preflight(self, task: Task, model: nn.Module, examples: Sequence[Any]) -> None:
        """Once per fresh run, before anything is written: call what this objective needs from the task on a
        couple of training examples and check what comes back (``boostlora.contract``), so a task returning the
        wrong kind of value fails as one line before a run directory exists. Default: nothing to probe."""

    @abstractmethod
    def train(self, ctx: RoundContext) -> TrainResult:
        """Train ``ctx.trainable`` on ``ctx.examples`` for one round."""


def require_capability(objective: str, task: Task, protocol: type, what: str) -> None:
    """Raise a ConfigError naming the missing capability, and the missing members, when ``task`` does not implement
    ``protocol``. The check runs before the model loads, so an attribute a task sets in ``load_model`` (a tokenizer)
    must also be declared on the class."""
    if isinstance(task, protocol):
        return
    members: set[str] = set()
    for cls in protocol.__mro__:
        if getattr(cls, "_is_protocol", False) and cls is not protocol.__mro__[-1]:
            members.update(getattr(cls, "__annotations__", {}))
            members.update(name for name, value in vars(cls).items() if callable(value) and not name.startswith("_"))
    missing = sorted(name for name in members if not hasattr(task, name))
    hint = ""
    if missing:
        hint = f": it has no {', '.join(missing)}"
        attributes = [name for name in missing if not any(callable(getattr(c, name, None)) for c in protocol.__mro__)]
        if attributes:
            hint += (f" (declare {', '.join(f'{name} = None' for name in attributes)} on the class and set it in "
                     "load_model: this check runs before the model loads)")
    raise ConfigError(f"objective '{objective}' needs a task that {what}; task '{task.name}' does not{hint}")
