"""The plugin contract. This module is the API reference: every hook a plugin may implement is here.

Implement hooks with ``boostlora.hookimpl`` in a module or class and expose it through the ``boostlora``
entry-point group (``[project.entry-points.boostlora] myplugin = "my_package.plugin"``). The built-in math,
code and protein plugins are found the same way, through boostlora's own entry points.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .objectives.base import Objective
    from .report import RoundRecord
    from .task import Task

hookspec = pluggy.HookspecMarker("boostlora")
hookimpl = pluggy.HookimplMarker("boostlora")


@hookspec
def boostlora_register_tasks(register: Callable[[type[Task]], None]) -> None:
    """Register task classes by calling ``register(TaskSubclass)`` once for each.

    A plugin usually registers one task; ``boostlora run --plugin NAME`` picks it, and ``--task`` picks
    among several. Task names must be unique within a plugin.
    """


@hookspec
def boostlora_register_objectives(register: Callable[[type[Objective]], None]) -> None:
    """Register weak-learner trainers (``Objective`` subclasses) by calling ``register`` once for each.

    Objective names are global: a run names one with ``objective: NAME``. Core registers ``cross_entropy``,
    ``grpo`` and ``sft`` through this same hook.
    """


@hookspec
def boostlora_run_start(run: Any) -> None:
    """Called once after the base evaluation and before round 0 (also when a run resumes).

    ``run`` is the live ``boostlora.loop.Run``: its ``config``, ``task``, ``run_dir`` and ``report``.
    """


@hookspec
def boostlora_round_end(run: Any, record: RoundRecord) -> str | None:
    """Called after every merged round with that round's record.

    Return a non-empty string to stop the run after this round; the string is recorded as the stop reason.
    """


@hookspec
def boostlora_run_end(run: Any, report: dict[str, Any]) -> None:
    """Called once when the run stops, with the final report as written to ``report.json``."""
