"""Typed options for tasks and objectives: a dataclass with help text per field, checked like ``RunConfig``.

A task or objective declares ``Options``, a subclass of ``boostlora.Options`` whose fields carry a default and
a ``help`` text (``option(default, "help")``). ``task_options`` / ``objective_options`` from a preset, a YAML file
or ``KEY=VALUE`` are then checked against the field types with the same rules as the run's own settings
(``config._coerce``): an unknown key or a wrong type is one line naming the option. ``boostlora run
--list-settings`` and ``boostlora plugins --verbose`` print every option with its default and help.

An ``Options`` instance also reads as a mapping (``options["lr"]``), so code written against the older
``default_options`` dictionaries keeps working.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from boostlora.foundation.config import (
    SHOWN_CHARS,
    _coerce,
    bounds,
    check_bounds,
    shown,
)
from boostlora.foundation.errors import ConfigError


def option(default: Any, help: str, *, at_least: float | None = None, above: float | None = None,
           at_most: float | None = None, below: float | None = None) -> Any:
    """A field with a default and a help text; mutable defaults (lists, dicts) are copied per instance.

    ``at_least``/``above``/``at_most``/``below`` bound a number (or every number of a list): a value outside is
    refused by name when the options are built, as every ``float`` option refuses NaN and infinity.
    """
    metadata = {"help": help, **bounds(at_least=at_least, above=above, at_most=at_most, below=below)}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass
class Options(Mapping[str, Any]):
    """Base class of typed options. Subclass it as a ``@dataclass`` with ``option(default, help)`` fields.

    Override ``validate`` to refuse values the types allow but the task or objective cannot use.
    """

    def validate(self) -> None:
        """Refuse impossible values by name (raise ``ConfigError``); types are already checked."""

    def __getitem__(self, key: str) -> Any:
        if key not in self._names():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every option with its default value."""
        return dict(cls())

    @classmethod
    def describe(cls) -> list[tuple[str, Any, str]]:
        """(name, default, help) of every option, in declaration order, for listings."""
        defaults = cls.defaults()
        return [(f.name, defaults[f.name], f.metadata.get("help", "")) for f in dataclasses.fields(cls)]

    @classmethod
    def build(cls, values: Mapping[str, Any] | None, where: str, prefix: str) -> Options:
        """An instance from ``values`` over the defaults; ``where`` names the owner (task 'math'), ``prefix`` the
        setting (task_options) in messages."""
        if values is not None and not isinstance(values, Mapping):
            raise ConfigError(f"{prefix} must be a mapping of options, got {shown(values)}")
        values = dict(values or {})
        names = [key for key in values if not isinstance(key, str)]
        if names:
            raise ConfigError(f"{prefix} names must be text, got {shown(names[0])}")
        known = cls._names()
        unknown = sorted(set(values) - set(known))
        if unknown:
            shown_unknown = ", ".join(key if len(key) <= SHOWN_CHARS else key[:SHOWN_CHARS] + "..." for key in unknown[:5])
            raise ConfigError(f"{where} has no option(s) {shown_unknown} (known: {', '.join(sorted(known)) or 'none'})")
        hints = typing.get_type_hints(cls)
        checked = {key: _coerce(f"{prefix}.{key}", value, hints[key]) for key, value in values.items()}
        instance = cls(**checked)
        for spec in dataclasses.fields(cls):
            check_bounds(f"{prefix}.{spec.name}", getattr(instance, spec.name), spec.metadata)
        instance.validate()
        return instance


def describe_options(owner: type) -> list[tuple[str, Any, str]]:
    """(name, default, help) of a task's or objective's options, typed or not (untyped options have no help)."""
    typed = getattr(owner, "Options", None)
    if typed is not None:
        return typed.describe()
    return [(name, default, "") for name, default in (getattr(owner, "default_options", {}) or {}).items()]


def check_options_class(owner: str, options: Any) -> None:
    """A task's or objective's ``Options`` must be its own ``@dataclass`` subclass of ``boostlora.Options``.

    Without the decorator a subclass silently has no fields, and every option would be refused as unknown.
    """
    if not (isinstance(options, type) and issubclass(options, Options)):
        raise ConfigError(f"{owner}.Options must be a subclass of boostlora.Options, got {options!r}")
    if "__dataclass_fields__" not in vars(options):
        raise ConfigError(f"{owner}.Options ({options.__name__}) is not a dataclass: decorate it with @dataclass")
    check_defaults(owner, options)


def check_defaults(owner: str, options: type[Options]) -> None:
    """Every field's default must fit its own type and range, as a user's value must.

    ``option("32", ...)`` on an ``int`` field would otherwise pass until a run uses the default, and then fail
    deep in the task (or, worse, compare "32" with a number); refusing it when the class is defined names the
    field while the author is looking at it.
    """
    try:
        hints = typing.get_type_hints(options)
    except (NameError, TypeError):  # an annotation that cannot be resolved here: Options.build reports it by name
        return
    for spec in dataclasses.fields(options):
        if spec.name not in hints:
            continue
        if spec.default is not dataclasses.MISSING:
            default = spec.default
        elif spec.default_factory is not dataclasses.MISSING:
            default = spec.default_factory()
        else:
            raise ConfigError(f"{owner}.Options.{spec.name} has no default: declare it with option(default, help)")
        where = f"{owner}.Options.{spec.name}: its default"
        try:
            _coerce(where, default, hints[spec.name])
            check_bounds(where, default, spec.metadata)
        except ConfigError as exc:
            raise ConfigError(f"{exc} (fix the option(...) default or the field's type)") from None
