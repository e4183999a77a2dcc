"""The plugin contract's hooks: every hook a plugin may implement is declared here.

Implement hooks with ``boostlora.hookimpl`` in a module or class and expose it through the ``boostlora``
entry-point group (``[project.entry-points.boostlora] myplugin = "my_package.plugin"``). The built-in math,
code and protein plugins are found the same way, through boostlora's own entry points. docs/plugins.md is the
author's reference (hooks, ``Task`` and ``Objective`` methods); a test keeps it in step with this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from boostlora.contract.objective import Objective
    from boostlora.contract.records import RoundRecord
    from boostlora.contract.task import Task
    from boostlora.contract.views import RunView

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
def boostlora_run_start(run: RunView) -> None:
    """Called once after the base evaluation and before round 0 (also when a run resumes).

    ``run`` is a read-only ``boostlora.RunView``: ``config`` (a copy), ``task``, ``run_dir``,
    ``base_eval_accuracy``, ``rounds`` (``RoundRecord`` tuple), ``rounds_done``, ``stop_reason``.
    Lifecycle hooks fire for every run, whichever plugin's task it runs, and only on rank 0 of a multi-process
    run; check ``run.config.plugin`` to act on your own task's runs only.
    """


@hookspec
def boostlora_round_end(run: RunView, record: RoundRecord) -> str | bool | None:
    """Called after every merged round, once its checkpoint is written, with that round's ``RoundRecord``.

    Return None (or nothing) to go on. Return a non-empty string to stop the run after this round; the string is
    recorded as the stop reason. Returning ``True`` also stops it, with the reason "plugin NAME asked to stop".
    Anything else is refused as one line naming the plugin. Fires for every run (see ``boostlora_run_start``).
    """


@hookspec
def boostlora_run_end(run: RunView, report: dict[str, Any]) -> None:
    """Called once when the run stops, with a copy of the final report as written to ``report.json``.

    Fires for every run (see ``boostlora_run_start``); changing ``report`` changes nothing.
    """
