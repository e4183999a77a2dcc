"""The suite's units of work: which runs a task x method x seed needs, at equal optimizer steps, and running them.

A unit is one task x method x seed; ``run_entry`` runs a task's units for one seed and hands each to ``save``
as it finishes. A boosting unit also runs in a run directory of its own under the suite's folder, checkpointed
after every round like any ``boostlora run``: an interrupted suite loses at most the round in progress, and a
longer run of the same unit (4x after 2x) continues the saved one instead of starting over.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from boostlora.bench.baselines import train_single_shot
from boostlora.contract.plugins import collect, find_objective, find_task
from boostlora.foundation.config import (
    RunConfig,
    build_config,
    load_yaml,
    merge_settings,
)
from boostlora.foundation.errors import CapacityError, ConfigError
from boostlora.runs import checkpoint as ckpt
from boostlora.runs.lifecycle import boost, resume
from boostlora.runs.run_identity import RESUMABLE

METHODS = ("zero-shot", "tinylora", "boost-top", "boost-rotate", "lora-r8", "full-ft")
#: Methods that get extended-training rows (2x, 4x ...); the many-parameter baselines run at 1x only.
EXTENDABLE = ("tinylora", "boost-top", "boost-rotate")
SUITES = ("cpu", "paper")
#: Seeds and step multiples a suite runs unless the command line says otherwise.
SUITE_DEFAULTS = {"cpu": {"seeds": [0, 1, 2, 3, 4], "extensions": [1, 2, 4]}, "paper": {"seeds": [0], "extensions": [1]}}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    """One task of a suite, with the preset that sizes it."""

    plugin: str
    task: str
    preset: str

    @property
    def label(self) -> str:
        return f"{self.plugin}/{self.task}" + ("" if self.preset in ("default", "bench-cpu") else f" ({self.preset})")


def suite_entries(suite: str, plugins: list[str] | None = None) -> list[Entry]:
    """The tasks of ``suite``: every registered task that has a preset for it (optionally only ``plugins``)."""
    if suite not in SUITES:
        raise ConfigError(f"unknown suite '{suite}' (available: {', '.join(SUITES)})")
    entries = []
    for plugin, info in sorted(collect().items()):
        if plugins is not None and plugin not in plugins:
            continue
        for name, cls in sorted(info.tasks.items()):
            presets = dict(getattr(cls, "presets", {}) or {})
            if suite == "cpu":
                chosen = ["bench-cpu"] if "bench-cpu" in presets else ["default"] if "default" in presets else []
            else:
                chosen = sorted(p for p in presets if p.startswith("paper"))
            entries += [Entry(plugin, name, preset) for preset in chosen]
    if not entries:
        raise ConfigError(f"no task has a preset for suite '{suite}'" + (f" among {plugins}" if plugins else ""))
    return entries


def method_configs(entry: Entry, seed: int, overrides: dict[str, Any] | None = None) -> dict[str, RunConfig]:
    """Resolved settings of every trained method for one task at 1x: what a dry run prints and checks.

    The single-shot methods get as many optimizer steps as all rotate rounds together; ``run_entry`` lowers
    that to the rounds rotate actually ran when it stops early. A task's ``baseline_settings`` for this
    preset and method are merged last, before the command line's overrides.
    """
    cls = find_task(entry.plugin, entry.task)
    preset = merge_settings({"plugin": entry.plugin, "task": entry.task}, cls.presets[entry.preset], entry.preset)
    per_method = dict(cls.baseline_settings.get(entry.preset, {}))
    unknown = sorted(set(per_method) - set(METHODS))
    if unknown:
        raise ConfigError(f"{entry.label}: baseline_settings name unknown method(s) {', '.join(unknown)}")

    def settings(method: str) -> dict[str, Any]:
        merged = merge_settings(preset, per_method.get(method, {}), f"{entry.label} {method} settings")
        return merge_settings(merged, {"seed": seed, **(overrides or {})}, "the benchmark")

    rotate = build_config({**settings("boost-rotate"), "strategy": "rotate"})
    total = steps_per_round(rotate) * rotate.max_rounds

    def single_shot(method: str, strategy: str) -> RunConfig:
        own = settings(method)
        options = {**own.get("objective_options", {}), "steps": total}
        return build_config({**own, "strategy": strategy, "train_on": "all", "max_rounds": 1, "patience": None,
                             "step_sizes": None, "replay_fraction": 0.0, "objective_options": options})

    return {
        "boost-rotate": rotate,
        "boost-top": build_config({**settings("boost-top"), "strategy": "top"}),
        "tinylora": single_shot("tinylora", "top"),
        # lora-r8 and full-ft read model, data, objective and targets from these; strategy and r do not apply
        "lora-r8": single_shot("lora-r8", "top"),
        "full-ft": single_shot("full-ft", "top"),
    }


def steps_per_round(config: RunConfig) -> int:
    steps = config.objective_options.get("steps")
    if steps is None:
        objective = config.objective or find_task(config.plugin, config.task).default_objective
        steps = find_objective(objective).default_options.get("steps")
    if not isinstance(steps, int):
        raise ConfigError(f"{config.plugin}/{config.task}: its objective has no integer 'steps' option, so "
                          "equal-step baselines are undefined")
    return steps


def check_entries(entries: list[Entry], seed: int, overrides: dict[str, Any] | None) -> None:
    """Resolve every setting and build every task before the first run, so an hour-long suite cannot fail
    on its last task's typo or missing consent after the others ran."""
    for entry in entries:
        built: list[dict[str, Any]] = []
        for method, config in method_configs(entry, seed, overrides).items():
            if config.task_options in built:
                continue  # methods mostly share a task's options: build each distinct task once
            built.append(config.task_options)
            try:
                find_task(entry.plugin, entry.task)(config.task_options)
            except ConfigError as error:
                others = sorted({e.plugin for e in entries} - {entry.plugin})
                hint = f" (or leave it out: --plugins {' '.join(others)})" if others else ""
                raise ConfigError(f"{entry.label} ({method}): {error}{hint}") from None


# -- units of work: one training run each, saved as it finishes ---------------------------------------------------


def unit_key(label: str, unit: str, seed: int) -> str:
    return f"{label}|{unit}|{seed}"


def unit_dir(work: Path, label: str, unit: str, seed: int) -> Path:
    """Where one unit's run directory lives under the suite's ``work`` folder (a name safe on any filesystem)."""
    return work / re.sub(r"[^A-Za-z0-9._-]+", "-", f"{label}-{unit}-seed{seed}").strip("-")


def saved_rounds(run_dir: Path, config: RunConfig) -> int | None:
    """Rounds done by the run saved in ``run_dir`` when it is ``config``'s run (every setting the same but those
    a resume may change, such as ``max_rounds``); None when there is no such run to continue."""
    if not ((run_dir / ckpt.CONFIG).exists() and (run_dir / ckpt.CHECKPOINT).exists() and (run_dir / ckpt.REPORT).exists()):
        return None
    try:
        saved = build_config(load_yaml(run_dir / ckpt.CONFIG)).to_dict()
        done = len(json.loads((run_dir / ckpt.REPORT).read_text())["rounds"])
    except (ConfigError, OSError, ValueError, KeyError, TypeError):
        return None  # not a run this suite can continue: it is replaced
    wanted = config.to_dict()
    if any(saved.get(key) != value for key, value in wanted.items() if key not in RESUMABLE):
        return None
    return done


def checkpointed_boost(config: RunConfig, run_dir: Path | None) -> tuple[dict[str, Any], int]:
    """``boost(config)`` in ``run_dir``, continuing the run saved there when it is the same run and not longer
    than asked; anything else there of boostlora's is replaced. Returns the report and the rounds it resumed
    after (0 for a fresh start). No ``final/`` is written: the suite keeps verdicts, not models."""
    if run_dir is None:
        return boost(config), 0
    config = dataclasses.replace(config, save_final=False)
    done = saved_rounds(run_dir, config)
    if done is not None and done <= config.max_rounds:
        changes = {key: value for key, value in config.to_dict().items() if key in RESUMABLE}
        return resume(run_dir, changes), done
    return boost(config, run_dir, overwrite=True), 0


def boosting_unit(config: RunConfig, rounds: int, run_dir: Path | None = None) -> dict[str, Any]:
    """One boosting run of ``rounds`` rounds (fewer if rotate would run out of directions); per-round results.

    With ``run_dir`` the run is checkpointed there and continued from it (``checkpointed_boost``); its seconds
    then add the saved rounds' own seconds to this call's."""
    started = time.perf_counter()
    try:
        report, resumed_after = checkpointed_boost(dataclasses.replace(config, max_rounds=rounds), run_dir)
    except CapacityError as error:
        # rotate's capacity: K*r directions must exist in every target module. Run as many rounds as fit.
        if error.most < config.max_rounds:
            raise
        report, resumed_after = checkpointed_boost(dataclasses.replace(config, max_rounds=error.most), run_dir)
    seconds = time.perf_counter() - started + sum(r["seconds"] for r in report["rounds"][:resumed_after])
    rounds_out = []
    for record in report["rounds"]:
        rounds_out.append({
            "accuracy": record["eval_accuracy"],
            "verdicts": record.get("eval_verdicts", []),
            "rank": max(record["effective_rank"].values(), default=0),
            "params": record["trainable_params"],
            "cumulative_params": record["cumulative_params"],
            "merged": record.get("step_size", 1.0) != 0,
            "seconds": record["seconds"],
            "kept_group_fraction": record.get("train_metrics", {}).get("kept_group_fraction"),
            "train_metrics": record.get("train_metrics", {}),  # the objective's own numbers (reward, screening)
        })
    return {
        "kind": "boosting",
        "base_accuracy": report["base_eval_accuracy"],
        "base_verdicts": report.get("base_eval_verdicts", []),
        "n_eval": report.get("n_eval", len(report.get("base_eval_verdicts", []))),
        "fitted_params": report.get("fitted_params", 0),
        "rounds": rounds_out,
        "rounds_asked": rounds,
        "stop_reason": report.get("stop_reason"),
        "seconds": seconds,
        "lr": learning_rate(config),
    }


def single_shot_unit(config: RunConfig, method: str, steps: int) -> dict[str, Any]:
    """Single-shot TinyLoRA (a one-round boosting run on all of train), LoRA or full fine-tuning."""
    started = time.perf_counter()
    if method == "tinylora":
        config = dataclasses.replace(config, objective_options={**config.objective_options, "steps": steps})
        report = boost(config)
        record = report["rounds"][0] if report["rounds"] else None
        return {
            "kind": "single",
            # the trained adapter's accuracy, as a boosting row's is its round's: never the model keep=best hands
            # over, which is the base model when the round did not beat it on validation
            "accuracy": record["eval_accuracy"] if record else report["base_eval_accuracy"],
            "verdicts": record.get("eval_verdicts", []) if record else report.get("base_eval_verdicts", []),
            "params": record["trainable_params"] if record else 0,
            "total_params": report["total_trainable_params"],
            "rank": max(record["effective_rank"].values(), default=0) if record else 0,
            "steps": steps,
            "seconds": time.perf_counter() - started,
            "lr": learning_rate(config),
        }
    record = train_single_shot(config, "lora" if method == "lora-r8" else "full", steps=steps)
    return {
        "kind": "single",
        "accuracy": record["final_eval_accuracy"],
        "verdicts": record.get("eval_verdicts", []),
        "params": record["trainable_params"],
        "total_params": record["total_trainable_params"],
        "rank": max(record["effective_rank"].values(), default=0),
        "steps": steps,
        "seconds": record["seconds"],
        "lr": learning_rate(config),
    }


def first_difference(longer: dict[str, Any], shorter: dict[str, Any]) -> str | None:
    """Where a longer boosting run stops repeating a shorter one's item verdicts (``"base"``, ``"round 3"``), or
    None when its first rounds are the shorter run's, verdict for verdict."""
    if longer.get("base_verdicts") != shorter.get("base_verdicts"):
        return "base"
    for i, (a, b) in enumerate(zip(longer["rounds"], shorter["rounds"])):
        if a.get("verdicts") != b.get("verdicts"):
            return f"round {i}"
    return None


def warn_if_not_continued(name: str, longer: dict[str, Any], shorter: dict[str, Any]) -> None:
    """A longer run replaces the saved shorter one, whose rows it then also answers for: say so when its first
    rounds are not the saved ones. Runs repeat verdict for verdict on the same device and thread count only; a
    float sum split over another number of threads can flip one sampled token, and the rounds after it differ."""
    where = first_difference(longer, shorter)
    if where is None:
        return
    n = len(shorter["rounds"])
    now = longer["rounds"][n - 1]["accuracy"] if 0 < n <= len(longer["rounds"]) else longer["base_accuracy"]
    before = shorter["rounds"][-1]["accuracy"] if n else shorter["base_accuracy"]
    log.warning("%s: the longer run is not the saved %d-round run continued: they differ from %s on (held-out "
                "after %d rounds %.3f, saved %.3f), so its rows for those rounds change too. Saved with %s torch "
                "threads, run with %s: runs repeat exactly only on the same device and thread count",
                name, n, where, n, now, before, shorter.get("threads", "unrecorded"), longer.get("threads"))


def run_entry(
    entry: Entry,
    methods: tuple[str, ...],
    seed: int,
    overrides: dict[str, Any] | None = None,
    *,
    extensions: tuple[int, ...] = (1,),
    done: dict[str, Any] | None = None,
    save: Any = None,
    work: Path | None = None,
) -> dict[str, Any]:
    """Every unit of one task under one seed; ``done`` holds units finished before, ``save`` is called after each.
    Boosting units run in checkpointed run directories under ``work`` when it is given (``boosting_unit``).

    Rotate always runs first: the single-shot baselines get the steps its first ``max_rounds`` rounds took.
    """
    configs = method_configs(entry, seed, overrides)
    rotate = configs["boost-rotate"]
    per_round = steps_per_round(rotate)
    most = max(extensions)
    units: dict[str, Any] = dict(done or {})

    def run(unit: str, job: Any, rounds: int | None = None) -> dict[str, Any]:
        saved = units.get(unit)
        shorter = None
        if saved is not None and rounds is not None and not covers(saved, rounds):
            # a resumed suite that asks for more extensions than a saved boosting run holds: run it longer (from
            # its last checkpoint when the suite kept its run directory)
            log.warning("%s %s seed %d: the saved run has %d rounds, %d are needed: running it longer",
                        entry.label, unit, seed, len(saved["rounds"]), rounds)
            shorter, saved = saved, None
        if saved is None:
            units[unit] = {**job(), "threads": torch.get_num_threads()}
            if shorter is not None:
                warn_if_not_continued(f"{entry.label} {unit} seed {seed}", units[unit], shorter)
            if save is not None:
                save(unit_key(entry.label, unit, seed), units[unit])
        return units[unit]

    def place(unit: str) -> Path | None:
        """The unit's checkpointed run directory, when the suite keeps them."""
        return None if work is None else unit_dir(work, entry.label, unit, seed)

    # rotate always runs: its first rounds set the baselines' budget; it runs long only when its rows are wanted
    rotate_rounds = rotate.max_rounds * (most if "boost-rotate" in methods else 1)
    rotate_unit = run("boost-rotate", lambda: boosting_unit(rotate, rotate_rounds, place("boost-rotate")), rotate_rounds)
    rounds_1x = min(rotate.max_rounds, len(rotate_unit["rounds"])) or 1
    budget = per_round * rounds_1x
    if "boost-top" in methods:
        top = configs["boost-top"]
        run("boost-top", lambda: boosting_unit(top, top.max_rounds * most, place("boost-top")), top.max_rounds * most)
    if "tinylora" in methods:
        for m in extensions:
            run(f"tinylora@{m}x", lambda m=m: single_shot_unit(configs["tinylora"], "tinylora", budget * m))
    for method in ("lora-r8", "full-ft"):
        if method in methods:
            run(method, lambda method=method: single_shot_unit(configs[method], method, budget))
    return units


# -- rows: what a table shows, per method and seed, read from the units ----------------------------------------


def covers(unit: dict[str, Any], rounds: int) -> bool:
    """Whether a saved boosting run answers for its first ``rounds`` rounds: it was asked for at least that many,
    or it stopped before the rounds it was asked for (rotate out of directions, patience), so more would not run."""
    asked = unit.get("rounds_asked", len(unit["rounds"]))
    return asked >= rounds or len(unit["rounds"]) < asked


def learning_rate(config: RunConfig) -> float | None:
    objective = config.objective or find_task(config.plugin, config.task).default_objective
    return config.objective_options.get("lr", find_objective(objective).default_options.get("lr"))
