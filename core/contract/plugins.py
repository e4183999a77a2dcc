"""The plugin manager: finds task plugins and objectives, built-in or third-party, in the same way.

Plugins are entry points in the ``boostlora`` group. Boostlora's own (math, code, protein) are entry points of
the ``boostlora`` distribution; setting ``BOOSTLORA_DISABLE_PLUGIN_AUTOLOAD=1`` loads only those, which is how
to rule out a misbehaving third-party plugin.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from boostlora.contract import hookspecs
from boostlora.contract.checks import check_stop_reason
from boostlora.contract.objective import Objective
from boostlora.contract.task import Task
from boostlora.foundation.config import RunConfig, shown
from boostlora.foundation.errors import ConfigError

DISABLE_AUTOLOAD_ENV = "BOOSTLORA_DISABLE_PLUGIN_AUTOLOAD"
ENTRY_POINT_GROUP = "boostlora"
BUILTIN_DISTRIBUTION = "boostlora"


def _load_manager() -> tuple[pluggy.PluginManager, list[ConfigError]]:
    """A manager with every installed plugin that registers cleanly, and one error per plugin that does not.

    A broken plugin is left out rather than stopping the load, so ``boostlora plugins`` can still list the others
    before it reports the broken one; every other command refuses to go on while one is broken (``collect``).
    """
    manager = pluggy.PluginManager("boostlora")
    manager.add_hookspecs(hookspecs)
    errors: list[ConfigError] = []
    # core's own objectives are an entry point of this distribution too ("boostlora.objectives"), so the contract
    # layer never imports the objectives layer above it
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        builtin_plugin = ep.dist is not None and ep.dist.name == BUILTIN_DISTRIBUTION
        if os.environ.get(DISABLE_AUTOLOAD_ENV) and not builtin_plugin:
            continue
        if manager.get_plugin(ep.name) is not None:
            continue
        hint = "" if builtin_plugin else f" (set {DISABLE_AUTOLOAD_ENV}=1 to run without third-party plugins)"
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken third-party plugin must not take the CLI down with a traceback
            error = ConfigError(f"plugin '{ep.name}' ({ep.value}) failed to import: {exc}{hint}")
            error.__cause__ = exc
            errors.append(error)
            continue
        try:
            register_checked(manager, plugin, ep.name)
        except ConfigError as exc:  # one installed plugin's typo stops every command: say how to get past it
            error = ConfigError(f"{exc}{hint}")
            error.__cause__ = exc.__cause__
            errors.append(error)
    return manager, errors


def _new_manager() -> pluggy.PluginManager:
    """A manager with every installed plugin; the first broken plugin's error is raised."""
    manager, errors = _load_manager()
    if errors:
        raise errors[0]
    return manager


def register_checked(manager: pluggy.PluginManager, plugin: Any, name: str) -> None:
    """Register ``plugin`` as ``name``, turning pluggy's refusals into one line naming the plugin and the hook.

    pluggy refuses a hook implementation whose parameters the hook does not pass (``PluginValidationError``, with a
    three-line message); a misspelled hook name is only found by ``check_hook_names``. Either way the plugin is left
    unregistered.
    """
    try:
        manager.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise ConfigError(validation_message(manager, plugin, name, exc)) from exc
    check_hook_names(manager, name)


def validation_message(manager: pluggy.PluginManager, plugin: Any, name: str, exc: Exception) -> str:
    """One line for pluggy's refusal of ``plugin``: the hook, the parameter it does not pass, and those it does."""
    import inspect

    for attr in (a for a in dir(plugin) if a.startswith("boostlora_")):
        caller = getattr(manager.hook, attr, None)
        if caller is None or not caller.has_spec() or manager.parse_hookimpl_opts(plugin, attr) is None:
            continue
        try:
            params = [p for p in inspect.signature(getattr(plugin, attr)).parameters if p != "self"]
        except (TypeError, ValueError):
            continue
        expected = caller.spec.argnames
        unknown = [p for p in params if p not in expected]
        if unknown:
            close = difflib.get_close_matches(unknown[0], expected, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            return (f"plugin '{name}': {attr}() has a parameter '{unknown[0]}' that the hook does not pass: {hint}"
                    f"{attr} passes {', '.join(expected) or 'nothing'}")
    return f"plugin '{name}' was refused by the plugin manager: {' '.join(str(exc).split())}"


def check_hook_names(manager: pluggy.PluginManager, plugin_name: str) -> None:
    """Refuse a plugin whose ``@hookimpl`` names no hook in ``hookspecs`` (pluggy's ``check_pending``).

    Without this a misspelled hook is silently never called: the plugin then looks empty ("unknown plugin").
    """
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        known = sorted(name for name, caller in vars(manager.hook).items() if caller.has_spec())
        unknown = sorted(
            name for name, caller in vars(manager.hook).items()
            if not caller.has_spec() and any(impl.plugin is exc.plugin for impl in caller.get_hookimpls())
        )
        offender = manager.get_name(exc.plugin) or plugin_name
        manager.unregister(exc.plugin)
        hook = unknown[0] if unknown else "?"
        close = difflib.get_close_matches(hook, known, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known hooks: {', '.join(known)}"
        raise ConfigError(f"plugin '{offender}' implements unknown hook '{hook}': {hint}") from exc


pm, load_errors = _load_manager()


def register_plugin(plugin: Any, name: str) -> None:
    """Register a plugin object (a module or instance with hook implementations) under ``name``.

    Entry points are the normal way in; this is for notebooks and tests. Registering a name twice is refused.
    """
    if pm.get_plugin(name) is not None:
        raise ConfigError(f"a plugin named '{name}' is already registered")
    register_checked(pm, plugin, name)


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered with ``register_plugin``."""
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin, name=name)


@dataclass
class PluginInfo:
    name: str
    tasks: dict[str, type[Task]] = field(default_factory=dict)
    objectives: dict[str, type[Objective]] = field(default_factory=dict)


def collect(skip_broken: bool = False) -> dict[str, PluginInfo]:
    """Ask every plugin for its tasks and objectives, remembering which plugin registered what.

    An installed plugin that failed to load is refused here (its one line) unless ``skip_broken``: listing
    plugins shows the others first (``cmd_plugins`` reports the broken ones after).
    """
    if load_errors and not skip_broken:
        raise load_errors[0]
    plugins: dict[str, PluginInfo] = {}

    def gather(hook_name: str, kind: str, base: type) -> None:
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            info = plugins.setdefault(impl.plugin_name, PluginInfo(impl.plugin_name))
            found: dict[str, type] = getattr(info, kind)

            def register(cls: type, _found: dict[str, type] = found, _plugin: str = impl.plugin_name) -> None:
                if not (isinstance(cls, type) and issubclass(cls, base)):
                    raise ConfigError(f"plugin '{_plugin}' registered {cls!r}, which is not a {base.__name__} subclass")
                if not getattr(cls, "name", None):
                    raise ConfigError(f"plugin '{_plugin}' registered {cls.__name__} without a name")
                if cls.name in _found:
                    raise ConfigError(f"plugin '{_plugin}' registered two {kind} named '{cls.name}'")
                _found[cls.name] = cls

            try:
                impl.function(register=register)
            except ConfigError as exc:  # a class refused as it is defined inside the hook: say whose it is
                text = str(exc)
                raise ConfigError(text if text.startswith("plugin '") else f"plugin '{impl.plugin_name}': {text}") from exc

    gather("boostlora_register_tasks", "tasks", Task)
    gather("boostlora_register_objectives", "objectives", Objective)
    return plugins


def find_task(plugin: str, task: str | None = None) -> type[Task]:
    """The task class a run asks for, or a ConfigError that lists what exists."""
    plugins = {name: info for name, info in collect().items() if info.tasks}
    if plugin not in plugins:
        known = ", ".join(sorted(plugins)) or "none installed"
        raise ConfigError(f"unknown plugin {shown(plugin)} (available: {known})")
    tasks = plugins[plugin].tasks
    if task is None:
        if len(tasks) > 1:
            raise ConfigError(f"plugin '{plugin}' has several tasks ({', '.join(sorted(tasks))}): choose one with --task")
        return next(iter(tasks.values()))
    if task not in tasks:
        raise ConfigError(f"plugin '{plugin}' has no task {shown(task)} (available: {', '.join(sorted(tasks))})")
    return tasks[task]


def find_objective(name: str) -> type[Objective]:
    """The objective class named ``name``, from whichever plugin registered it."""
    objectives: dict[str, type[Objective]] = {}
    for info in collect().values():
        for obj_name, cls in info.objectives.items():
            if obj_name in objectives and objectives[obj_name] is not cls:
                raise ConfigError(f"two plugins register an objective named '{obj_name}'")
            objectives[obj_name] = cls
    if name not in objectives:
        raise ConfigError(f"unknown objective {shown(name)} (available: {', '.join(sorted(objectives)) or 'none'})")
    return objectives[name]


def check_options(config: RunConfig) -> None:
    """Check the run's task and objective options against their typed ``Options`` (types, ranges, ``validate``)
    without building the task: what a run does before it writes anything."""
    task_cls = find_task(config.plugin, config.task)
    objective_cls = find_objective(config.objective or task_cls.default_objective)
    for owner, values, prefix in ((f"task '{task_cls.name}'", config.task_options, "task_options"),
                                  (f"objective '{objective_cls.name}'", config.objective_options, "objective_options")):
        owner_cls = task_cls if prefix == "task_options" else objective_cls
        if owner_cls.Options is not None:
            owner_cls.Options.build(values, owner, prefix)
            continue
        unknown = sorted(set(values or {}) - set(owner_cls.default_options))  # untyped: only the names
        if unknown:
            known = ", ".join(sorted(owner_cls.default_options)) or "none"
            raise ConfigError(f"{owner} has no option(s) {', '.join(unknown)[:200]} (known: {known})")


def open_task(config: RunConfig) -> tuple[Task, Objective, str]:
    """The task and objective a run names, built from their options and checked against each other, and the model
    the run boosts (``model``, or the task's default)."""
    task = find_task(config.plugin, config.task)(config.task_options)
    objective = find_objective(config.objective or task.default_objective)(config.objective_options)
    objective.check(task)
    model_name = config.model or task.default_model
    if not model_name:
        raise ConfigError(f"task '{task.name}' has no default model: set `model`")
    return task, objective, model_name


def round_end_stop_reason(**kwargs: Any) -> str | None:
    """Call every ``boostlora_round_end`` and return the first reason to stop, naming the plugin when it said only
    ``True``. Each implementation is called (in pluggy's order), so every plugin sees every round."""
    reason = None
    for impl in reversed(pm.hook.boostlora_round_end.get_hookimpls()):
        if getattr(impl, "hookwrapper", False) or getattr(impl, "wrapper", False):
            continue
        answer = check_stop_reason(impl.plugin_name, impl.function(**{arg: kwargs[arg] for arg in impl.argnames}))
        reason = reason or answer
    return reason
