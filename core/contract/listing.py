"""What ``boostlora run --list-settings`` and ``boostlora plugins [--verbose]`` print.

Every setting of a run, every option of every task and objective, each with its default and help text, so a
user never has to read source code to learn what ``task_options.X`` or ``objective_options.Y`` can be.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from boostlora.contract.options import describe_options
from boostlora.foundation.config import FIELDS


def _row(name: str, default: Any, help_text: str, indent: str = "") -> str:
    return f"{indent}{name:<18} {default!r:<10} {help_text}".rstrip()


def run_settings() -> list[str]:
    """Every ``RunConfig`` field: name, default, help."""
    lines = []
    for name, spec in FIELDS.items():
        if spec.default is not dataclasses.MISSING:
            default: Any = spec.default
        elif spec.default_factory is not dataclasses.MISSING:
            default = spec.default_factory()
        else:
            lines.append(f"{name:<18} {'required':<10} {spec.metadata.get('help', '')}".rstrip())
            continue
        lines.append(_row(name, default, spec.metadata.get("help", "")))
    return lines


def options_lines(owner: type, setting: str, indent: str = "    ") -> list[str]:
    """``setting.NAME  default  help`` for each option of a task or objective class, in aligned columns."""
    described = describe_options(owner)
    if not described:
        return [f"{indent}(no {setting})"]
    names = [f"{setting}.{name}" for name, _, _ in described]
    defaults = [repr(default) for _, default, _ in described]
    width, default_width = max(map(len, names)), min(max(map(len, defaults)), 24)
    return [
        f"{indent}{name:<{width}}  {default:<{default_width}}  {help_text}".rstrip()
        for name, default, (_, _, help_text) in zip(names, defaults, described)
    ]


def plugin_lines(verbose: bool) -> list[str]:
    """Installed plugins, their tasks and objectives; with ``verbose`` every option of each."""
    from boostlora.contract.plugins import collect

    lines = []
    for name, info in sorted(collect(skip_broken=True).items()):  # the broken ones are reported after the list
        if not info.tasks and not info.objectives:
            lines.append(f"{name}: (registers nothing)")
            continue
        lines.append(name)
        for task_name, cls in sorted(info.tasks.items()):
            presets = ", ".join(sorted(getattr(cls, "presets", {}) or {})) or "-"
            lines.append(f"  task {task_name:<14} {cls.description}  [objective: {cls.default_objective}; presets: {presets}]")
            if verbose:
                lines += options_lines(cls, "task_options")
        for obj_name, cls in sorted(info.objectives.items()):
            lines.append(f"  objective {obj_name:<9} {cls.description}")
            if verbose:
                lines += options_lines(cls, "objective_options")
    return lines
