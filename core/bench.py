"""The cross-domain benchmark: every built-in task under every method, over several seeds, with intervals.

Methods, at equal optimizer steps (the steps of the preset's rotate rounds together, "1x"):
  zero-shot        the base model (read from the boosting runs' base evaluation: same splits, same model)
  tinylora         single-shot TinyLoRA: one round on the whole train split, top block, same r and u
  boost-top        BoostLoRA with the top strategy (the paper's ablation)
  boost-rotate     BoostLoRA with rotate (the paper's method)
  lora-r8          single-shot peft LoRA, rank 8, same target modules
  full-ft          full fine-tuning

Extended training (``extensions``, e.g. 1 2 4): single-shot TinyLoRA is trained again at 2x and 4x the steps,
and the two boosting methods run 4x the rounds. Rounds are deterministic given the seed and do not depend on
``max_rounds`` (the SVD is exact and sliced, round seeds depend only on the run's seed and the round), so the
first ``max_rounds`` rounds of a 4x run are exactly the 1x run: one boosting run per seed gives the 1x, 2x and
4x rows and a per-round curve. Rotate stops early where a module runs out of singular directions.

Every method runs under every seed; a seed fixes the data split, so methods with the same seed are compared on
the same items. ``boostlora.stats`` turns per-seed accuracies into intervals and paired comparisons. Units of
work (task x method x seed) are saved as they finish, with item-level verdicts beside them, so an interrupted
suite resumes where it stopped and any comparison can be recomputed without rerunning.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import platform
import shutil
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from .baselines import train_single_shot
from .checkpoint import write_json
from .config import RunConfig, build_config, merge_settings
from .errors import CapacityError, ConfigError
from .loop import boost
from .plugins import collect, find_objective, find_task
from .stats import Interval, binomial_se, mean_interval, outcome, paired_differences, paired_interval

METHODS = ("zero-shot", "tinylora", "boost-top", "boost-rotate", "lora-r8", "full-ft")
#: Methods that get extended-training rows (2x, 4x ...); the many-parameter baselines run at 1x only.
EXTENDABLE = ("tinylora", "boost-top", "boost-rotate")
SUITES = ("cpu", "paper")
#: Seeds and step multiples a suite runs unless the command line says otherwise.
SUITE_DEFAULTS = {"cpu": {"seeds": [0, 1, 2, 3, 4], "extensions": [1, 2, 4]}, "paper": {"seeds": [0], "extensions": [1]}}
log = logging.getLogger(__name__)
VERSIONED = ("boostlora", "torch", "transformers", "peft", "trl")


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


def boosting_unit(config: RunConfig, rounds: int) -> dict[str, Any]:
    """One boosting run of ``rounds`` rounds (fewer if rotate would run out of directions); per-round results."""
    started = time.perf_counter()
    try:
        report = boost(dataclasses.replace(config, max_rounds=rounds))
    except CapacityError as error:
        # rotate's capacity: K*r directions must exist in every target module. Run as many rounds as fit.
        if error.most < config.max_rounds:
            raise
        report = boost(dataclasses.replace(config, max_rounds=error.most))
    seconds = time.perf_counter() - started
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
            "accuracy": report["final_eval_accuracy"],
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


def run_entry(
    entry: Entry,
    methods: tuple[str, ...],
    seed: int,
    overrides: dict[str, Any] | None = None,
    *,
    extensions: tuple[int, ...] = (1,),
    done: dict[str, Any] | None = None,
    save: Any = None,
) -> dict[str, Any]:
    """Every unit of one task under one seed; ``done`` holds units finished before, ``save`` is called after each.

    Rotate always runs first: the single-shot baselines get the steps its first ``max_rounds`` rounds took.
    """
    configs = method_configs(entry, seed, overrides)
    rotate = configs["boost-rotate"]
    per_round = steps_per_round(rotate)
    most = max(extensions)
    units: dict[str, Any] = dict(done or {})

    def run(unit: str, work: Any, rounds: int | None = None) -> dict[str, Any]:
        saved = units.get(unit)
        if saved is not None and rounds is not None and not covers(saved, rounds):
            # a resumed suite that asks for more extensions than a saved boosting run holds: run it again, longer
            log.warning("%s %s seed %d: the saved run has %d rounds, %d are needed: running it again",
                        entry.label, unit, seed, len(saved["rounds"]), rounds)
            saved = None
        if saved is None:
            units[unit] = work()
            if save is not None:
                save(unit_key(entry.label, unit, seed), units[unit])
        return units[unit]

    # rotate always runs: its first rounds set the baselines' budget; it runs long only when its rows are wanted
    rotate_rounds = rotate.max_rounds * (most if "boost-rotate" in methods else 1)
    rotate_unit = run("boost-rotate", lambda: boosting_unit(rotate, rotate_rounds), rotate_rounds)
    rounds_1x = min(rotate.max_rounds, len(rotate_unit["rounds"])) or 1
    budget = per_round * rounds_1x
    if "boost-top" in methods:
        top = configs["boost-top"]
        run("boost-top", lambda: boosting_unit(top, top.max_rounds * most), top.max_rounds * most)
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


def boosting_row(unit: dict[str, Any], rounds: int, per_round: int) -> dict[str, Any]:
    """The boosting run's state after its first ``rounds`` rounds (or where it stopped)."""
    prefix = unit["rounds"][:rounds]
    last = prefix[-1] if prefix else None
    return {
        "accuracy": last["accuracy"] if last else unit["base_accuracy"],
        "verdicts": last["verdicts"] if last else unit["base_verdicts"],
        "params": unit["rounds"][0]["params"] if unit["rounds"] else 0,
        "total_params": (last["cumulative_params"] if last else 0) + unit.get("fitted_params", 0),
        "rank": last["rank"] if last else 0,
        "rounds": len(prefix),
        "rounds_merged": sum(1 for r in prefix if r["merged"]),
        "steps": per_round * len(prefix),
        "seconds": sum(r["seconds"] for r in prefix),
        "lr": unit.get("lr"),
        "n_eval": unit.get("n_eval", 0),
    }


def entry_rows(label: str, entry_units: dict[int, dict[str, Any]], max_rounds: int, per_round: int,
               extensions: tuple[int, ...], methods: tuple[str, ...]) -> dict[str, dict[int, dict[str, Any]]]:
    """``rows[method][seed]`` for every method row of a task: 1x methods, then extended ones ('tinylora 2x')."""
    rows: dict[str, dict[int, dict[str, Any]]] = {}
    for seed, units in sorted(entry_units.items()):
        if "boost-rotate" not in units:
            continue
        rotate = units["boost-rotate"]
        n_eval = rotate.get("n_eval", 0)
        rows.setdefault("zero-shot", {})[seed] = {
            "accuracy": rotate["base_accuracy"], "verdicts": rotate["base_verdicts"], "params": 0,
            "total_params": 0, "rank": 0, "rounds": 0, "rounds_merged": 0, "steps": 0, "seconds": 0.0,
            "lr": None, "n_eval": n_eval}
        for m in extensions:
            suffix = "" if m == 1 else f" {m}x"
            for method in ("boost-top", "boost-rotate"):
                # a seed whose run was not asked for m times the rounds has no m-x row (it is not a shorter one)
                if method in units and method in methods and covers(units[method], max_rounds * m):
                    rows.setdefault(method + suffix, {})[seed] = boosting_row(units[method], max_rounds * m, per_round)
            if f"tinylora@{m}x" in units and "tinylora" in methods:
                single = units[f"tinylora@{m}x"]
                rows.setdefault("tinylora" + suffix, {})[seed] = {**single, "rounds": 1, "rounds_merged": 1,
                                                                   "n_eval": n_eval}
        for method in ("lora-r8", "full-ft"):
            if method in units and method in methods:
                rows.setdefault(method, {})[seed] = {**units[method], "rounds": 1, "rounds_merged": 1,
                                                     "n_eval": n_eval}
    order = [m for m in METHODS if m in rows] + [m for m in rows if m not in METHODS]
    return {m: rows[m] for m in order}


def row_summary(per_seed: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Mean and interval over seeds of one method's accuracy, with the columns the table shows."""
    accuracies = [row["accuracy"] for row in per_seed.values()]
    interval = mean_interval(accuracies)
    first = next(iter(per_seed.values()))
    n_eval = first.get("n_eval") or len(first.get("verdicts", []))
    return {
        "interval": interval,
        "seeds": sorted(per_seed),
        "one_seed_se": binomial_se(interval.mean, n_eval) if n_eval else None,
        "params": first["params"],
        "total_params": max(row["total_params"] for row in per_seed.values()),
        "rank": sum(row["rank"] for row in per_seed.values()) / len(per_seed),
        "rank_range": (min(row["rank"] for row in per_seed.values()), max(row["rank"] for row in per_seed.values())),
        "rounds": sum(row["rounds"] for row in per_seed.values()) / len(per_seed),
        "rounds_merged": sum(row["rounds_merged"] for row in per_seed.values()) / len(per_seed),
        "steps": sum(row["steps"] for row in per_seed.values()) / len(per_seed),
        "seconds": sum(row["seconds"] for row in per_seed.values()) / len(per_seed),
        "lr": first.get("lr"),
        "n_eval": n_eval,
    }


def comparisons(rows: dict[str, dict[int, dict[str, Any]]], extensions: tuple[int, ...]) -> list[dict[str, Any]]:
    """Rotate against every other method at the same step budget, paired by seed."""
    out = []
    for m in extensions:
        suffix = "" if m == 1 else f" {m}x"
        ours = rows.get("boost-rotate" + suffix)
        if not ours:
            continue
        others = [name for name in rows if name != "boost-rotate" + suffix and
                  (name.endswith(suffix) if suffix else not name.endswith("x"))]
        for other in others:
            a = {seed: row["accuracy"] for seed, row in ours.items()}
            b = {seed: row["accuracy"] for seed, row in rows[other].items()}
            if not set(a) & set(b):
                continue
            interval = paired_interval(a, b)
            steps = (mean_steps(ours), mean_steps(rows[other]))
            out.append({"ours": "boost-rotate" + suffix, "other": other, "interval": interval, "steps": steps,
                        "differences": paired_differences(a, b), "outcome": outcome(interval)})
    return out


def mean_steps(per_seed: dict[int, dict[str, Any]]) -> float:
    return sum(row["steps"] for row in per_seed.values()) / len(per_seed)


# -- the suite ---------------------------------------------------------------------------------------------------


def learning_rate(config: RunConfig) -> float | None:
    objective = config.objective or find_task(config.plugin, config.task).default_objective
    return config.objective_options.get("lr", find_objective(objective).default_options.get("lr"))


def environment(command: str) -> dict[str, Any]:
    import os

    import torch

    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = version(name)
        except Exception:
            versions[name] = "not installed"
    return {
        "command": command,
        "versions": versions,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}, "
        f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}, {platform.platform()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def split_verdicts(units: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Units without their item-level verdict lists (the suite JSON), and the verdicts alone (the file beside)."""
    light, verdicts = {}, {}
    for key, unit in units.items():
        unit = copy.deepcopy(unit)
        v = {}
        if "verdicts" in unit:
            v["final"] = unit.pop("verdicts")
        if "base_verdicts" in unit:
            v["base"] = unit.pop("base_verdicts")
        for i, record in enumerate(unit.get("rounds", [])):
            v[f"round{i}"] = record.pop("verdicts", [])
        light[key], verdicts[key] = unit, v
    return light, verdicts


def join_verdicts(light: dict[str, Any], verdicts: dict[str, Any]) -> dict[str, Any]:
    units = {}
    for key, unit in light.items():
        unit = copy.deepcopy(unit)
        v = verdicts.get(key, {})
        if unit.get("kind") == "single":
            unit["verdicts"] = v.get("final", [])
        else:
            unit["base_verdicts"] = v.get("base", [])
            for i, record in enumerate(unit.get("rounds", [])):
                record["verdicts"] = v.get(f"round{i}", [])
        units[key] = unit
    return units


def run_suite(
    suite: str,
    out: Path,
    *,
    plugins: list[str] | None = None,
    methods: tuple[str, ...] = METHODS,
    seed: int | None = None,
    seeds: list[int] | None = None,
    extensions: list[int] | None = None,
    overrides: dict[str, Any] | None = None,
    dry_run: bool = False,
    resume: bool = False,
    results_file: Path | None = None,
    command: str = "",
) -> dict[str, Any]:
    """Run (or, with ``dry_run``, only resolve) a suite over seeds; write JSON, verdicts, Markdown and plots.

    Returns ``{task label: {method row: summary}}``. Units already in ``out`` are kept with ``resume``; the
    tables are written from every unit saved there, so a suite run plugin by plugin builds one table.
    """
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ConfigError(f"unknown method(s) {', '.join(unknown)} (available: {', '.join(METHODS)})")
    defaults = SUITE_DEFAULTS.get(suite, {"seeds": [0], "extensions": [1]})
    seeds = list(seeds if seeds is not None else [seed] if seed is not None else defaults["seeds"])
    extensions_t = tuple(sorted(set(extensions if extensions is not None else defaults["extensions"])))
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must be distinct and at least one, got {seeds}")
    if 1 not in extensions_t or any(not isinstance(m, int) or m < 1 for m in extensions_t):
        raise ConfigError(f"extensions are whole step multiples and must include 1, got {list(extensions_t)}")
    entries = suite_entries(suite, plugins)
    if dry_run:
        return {e.label: {m: c.to_dict() for m, c in method_configs(e, seeds[0], overrides).items()} for e in entries}
    check_entries(entries, seeds[0], overrides)
    out.mkdir(parents=True, exist_ok=True)
    env = environment(command or f"boostlora bench --suite {suite}")
    saved, saved_verdicts = out / f"suite-{suite}.json", out / f"suite-{suite}-verdicts.json"
    state: dict[str, Any] = {"units": {}, "entries": {}}
    if resume and saved.exists():
        previous = json.loads(saved.read_text())
        verdicts = json.loads(saved_verdicts.read_text()) if saved_verdicts.exists() else {}
        state = {"units": join_verdicts(previous.get("units", {}), verdicts), "entries": previous.get("entries", {})}
    runs = state["units"]

    def persist(key: str, unit: dict[str, Any]) -> None:
        runs[key] = unit
        light, verdicts = split_verdicts(runs)
        write_json(saved_verdicts, verdicts)
        write_json(saved, {"environment": env, "entries": state["entries"], "units": light})

    for entry in entries:
        rotate = method_configs(entry, seeds[0], overrides)["boost-rotate"]
        state["entries"][entry.label] = {
            "plugin": entry.plugin, "task": entry.task, "preset": entry.preset, "max_rounds": rotate.max_rounds,
            "steps_per_round": steps_per_round(rotate), "evaluate_on": rotate.evaluate_on,
            "seeds": sorted(set(state["entries"].get(entry.label, {}).get("seeds", [])) | set(seeds)),
            "extensions": sorted(set(state["entries"].get(entry.label, {}).get("extensions", [])) | set(extensions_t)),
            "methods": sorted(set(state["entries"].get(entry.label, {}).get("methods", [])) | set(methods)),
        }
        for s in seeds:
            prefix = f"{entry.label}|"
            done = {k.split("|")[1]: v for k, v in runs.items() if k.startswith(prefix) and k.endswith(f"|{s}")}
            run_entry(entry, methods, s, overrides, extensions=extensions_t, done=done, save=persist)
    write_json(saved, {"environment": env, "entries": state["entries"], "units": split_verdicts(runs)[0]})
    return write_tables(suite, out, state, env, results_file)


def units_by_entry(state: dict[str, Any]) -> dict[str, dict[int, dict[str, Any]]]:
    grouped: dict[str, dict[int, dict[str, Any]]] = {}
    for key, unit in state["units"].items():
        label, name, seed = key.rsplit("|", 2)
        grouped.setdefault(label, {}).setdefault(int(seed), {})[name] = unit
    return grouped


def write_tables(suite: str, out: Path, state: dict[str, Any], env: dict[str, Any],
                 results_file: Path | None) -> dict[str, Any]:
    """Markdown (table of intervals, paired comparisons) and one plot per task, from every saved unit."""
    grouped = units_by_entry(state)
    summaries: dict[str, Any] = {}
    sections = []
    plots = {}
    for label, info in state["entries"].items():
        if label not in grouped:
            continue
        extensions_t = tuple(info["extensions"])
        rows = entry_rows(label, grouped[label], info["max_rounds"], info["steps_per_round"], extensions_t,
                          tuple(info.get("methods", METHODS)))
        if not rows:
            continue
        summary = {method: row_summary(per_seed) for method, per_seed in rows.items()}
        compared = comparisons(rows, extensions_t)
        summaries[label] = summary
        sections.append(entry_markdown(label, info, summary, compared, grouped[label]))
        name = label.replace("/", "-").replace(" ", "_").replace("(", "").replace(")", "") + ".png"
        if plot_entry(label, info, rows, grouped[label], out / name):
            plots[label] = name
    table = markdown(suite, sections, env)
    (out / f"RESULTS-{suite}.md").write_text(table + figures(plots, ""))
    if results_file is not None:
        # the committed table carries its plots beside it, in plots/, so it renders on its own
        folder = results_file.parent / "plots"
        if plots:
            folder.mkdir(parents=True, exist_ok=True)
        for name in plots.values():
            shutil.copyfile(out / name, folder / f"{suite}-{name}")
        kept = written_by_hand(results_file)
        results_file.write_text(kept + table + figures({k: f"{suite}-{v}" for k, v in plots.items()}, "plots/"))
    return summaries


#: A results file may open with text a person wrote (what the numbers mean); regenerating keeps it.
BY_HAND_START, BY_HAND_END = "<!-- written by hand: kept when the tables are regenerated -->", "<!-- end of hand-written text -->"


def written_by_hand(results_file: Path) -> str:
    """The hand-written block at the top of an existing results file, markers included ('' if none)."""
    if not results_file.exists():
        return ""
    text = results_file.read_text()
    start, end = text.find(BY_HAND_START), text.find(BY_HAND_END)
    if start < 0 or end < start:
        return ""
    return text[start:end + len(BY_HAND_END)] + "\n\n"


def fmt_interval(interval: Interval) -> tuple[str, str]:
    if interval.low is None:
        return f"{interval.mean:.3f}", "(one seed)"
    return f"{interval.mean:.3f}", f"[{interval.low:.3f}, {interval.high:.3f}]"


def entry_markdown(label: str, info: dict[str, Any], summary: dict[str, Any], compared: list[dict[str, Any]],
                   units: dict[int, dict[str, Any]]) -> str:
    split = "validation split carved from train" if info.get("evaluate_on") == "validation" else "held-out split"
    n_eval = next(iter(summary.values()))["n_eval"]
    lines = [
        f"## {label}",
        "",
        f"Preset `{info['preset']}`: {info['max_rounds']} rounds x {info['steps_per_round']} optimizer steps at 1x; "
        f"seeds {', '.join(map(str, sorted(units)))} with results; accuracy on the {split} ({n_eval} items).",
        "",
        "| method | accuracy (mean) | 95% CI over seeds | seeds | one-seed SE | params / round | params total "
        "| rounds (merged) | rank (min-max) | optimizer steps | lr | s / seed |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method, s in summary.items():
        mean, ci = fmt_interval(s["interval"])
        se = "" if s["one_seed_se"] is None else f"{s['one_seed_se']:.3f}"
        rank = f"{s['rank']:.1f} ({s['rank_range'][0]}-{s['rank_range'][1]})"
        lines.append(
            f"| {method} | {mean} | {ci} | {len(s['seeds'])} | {se} | {s['params']:,} | {s['total_params']:,} | "
            f"{s['rounds']:.1f} ({s['rounds_merged']:.1f}) | {rank} | {s['steps']:.0f} | "
            f"{'' if s['lr'] is None else format(s['lr'], 'g')} | {s['seconds']:.0f} |"
        )
    if compared:
        lines += [
            "",
            "Rotate against each method at the same step budget, paired by seed (rotate minus other; "
            "'wins'/'loses' only where the 95% interval excludes 0). Where rotate ran out of singular directions "
            "before the budget, it took fewer steps: the steps column says so.",
            "",
            "| comparison | optimizer steps (rotate / other) | mean difference | 95% CI | per-seed differences | outcome |",
            "|---|---|---|---|---|---|",
        ]
        for c in compared:
            mean, ci = fmt_interval(c["interval"])
            per_seed = ", ".join(f"{d:+.3f}" for d in c["differences"].values())
            steps = f"{c['steps'][0]:.0f} / {c['steps'][1]:.0f}"
            lines.append(f"| {c['ours']} vs {c['other']} | {steps} | {float(mean):+.3f} | {ci} | {per_seed} | "
                         f"**{c['outcome']}** |")
    stopped = sorted({u["stop_reason"] for seed in units.values() for name, u in seed.items()
                      if name.startswith("boost-") and u.get("stop_reason")})
    if stopped:
        lines += ["", "Boosting runs stopped because: " + "; ".join(stopped) + "."]
    return "\n".join(lines)


def markdown(suite: str, sections: list[str], env: dict[str, Any]) -> str:
    lines = [
        f"# Benchmark results: `{suite}` suite",
        "",
        "Generated by the command below; do not edit by hand.",
        "",
        f"    {env['command']}",
        "",
        f"- date: {env['date']}",
        f"- machine: {env['machine']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()),
        "",
        "Accuracy after training (the task's headline metric), mean over seeds with a Student-t 95% interval;",
        "one-seed SE is the evaluation's own binomial noise at that accuracy. A seed fixes the data split and the",
        "training randomness; all methods of a task share splits, seeds, objective and, at 1x, optimizer steps.",
        "Rows marked 2x/4x train 2 or 4 times the steps (boosting: that many more rounds; the 1x rows are the same",
        "runs' first rounds). Params total is the runs' `cumulative_params` plus any fitted head. Rank is the",
        "numerical rank of the cumulative update, largest over target modules, mean over seeds: under rotate it",
        "grows by r per round merged with a nonzero step, and stops where a module has no directions left.",
        "",
    ]
    return "\n".join(lines) + "\n" + "\n\n".join(sections) + "\n"


def plot_entry(label: str, info: dict[str, Any], rows: dict[str, dict[int, dict[str, Any]]],
               units: dict[int, dict[str, Any]], path: Path) -> Path | None:
    """Accuracy against cumulative optimizer steps, mean and 95% band over seeds; rank per round beside it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    per_round = info["steps_per_round"]
    fig, (acc, rank) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2, 1]})
    colours = {"boost-rotate": "tab:red", "boost-top": "tab:blue", "tinylora": "tab:green",
               "lora-r8": "tab:purple", "full-ft": "tab:brown"}

    def band(axis: Any, xs: list[float], per_x: list[dict[int, float]], colour: str, name: str, marker: str) -> None:
        """Mean and 95% band over seeds (``per_x``: seed -> accuracy at each x). Where fewer seeds reach further
        (longer runs on some seeds only), the line goes on dashed, with hollow markers labelled n=seeds, from
        the mean of those same seeds at the last shared point, so a change of seeds never looks like a step."""
        full = next((k for k, v in enumerate(per_x) if set(v) != set(per_x[0])), len(per_x))

        def draw(ks: list[int], seeds_at: Any, **style: Any) -> None:
            intervals = [mean_interval([per_x[k][s] for s in seeds_at(k)]) for k in ks]
            axis.plot([xs[k] for k in ks], [i.mean for i in intervals], marker=marker, color=colour, **style)
            axis.fill_between([xs[k] for k in ks], [i.mean if i.low is None else i.low for i in intervals],
                              [i.mean if i.high is None else i.high for i in intervals], color=colour, alpha=0.15)

        draw(list(range(full)), lambda k: sorted(per_x[0]), label=name)
        if full < len(xs):
            later = list(range(full, len(xs)))
            draw([full - 1] + later, lambda k: sorted(per_x[full] if k == full - 1 else per_x[k]), linestyle="--",
                 markerfacecolor="none")
            for k in later:
                mean = sum(per_x[k].values()) / len(per_x[k])
                axis.annotate(f"n={len(per_x[k])}", (xs[k], mean), textcoords="offset points", xytext=(3, 4),
                              fontsize=6, color=colour)

    for method in ("boost-rotate", "boost-top"):
        curves = {seed: [u[method]["base_accuracy"]] + [r["accuracy"] for r in u[method]["rounds"]]
                  for seed, u in units.items() if method in u}
        if not curves:
            continue
        # every seed's points: a round's mean is over the seeds whose run reached it
        length = max(len(c) for c in curves.values())
        band(acc, [per_round * k for k in range(length)],
             [{seed: c[k] for seed, c in curves.items() if len(c) > k} for k in range(length)],
             colours[method], f"{method} (per round)", "o")
        ranks = [[0] + [r["rank"] for r in u[method]["rounds"]] for u in units.values() if method in u]
        reached = [[r[k] for r in ranks if len(r) > k] for k in range(length)]
        rank.plot(range(length), [sum(v) / len(v) for v in reached], marker="o", color=colours[method], label=method)
    single = [(m, rows.get("tinylora" if m == 1 else f"tinylora {m}x")) for m in info["extensions"]]
    single = [(m, r) for m, r in single if r]
    if single:
        base = {seed: u["boost-rotate"]["base_accuracy"] for seed, u in units.items() if "boost-rotate" in u}
        xs = [0] + [next(iter(r.values()))["steps"] for _, r in single]
        band(acc, xs, [base] + [{seed: row["accuracy"] for seed, row in r.items()} for _, r in single],
             colours["tinylora"], "single-shot TinyLoRA", "s")
    for method in ("lora-r8", "full-ft"):
        if method in rows:
            interval = mean_interval([row["accuracy"] for row in rows[method].values()])
            x = next(iter(rows[method].values()))["steps"]
            error = None if interval.low is None else [[interval.mean - interval.low], [interval.high - interval.mean]]
            acc.errorbar([x], [interval.mean], yerr=error, fmt="D", color=colours[method], label=method, capsize=3)
    acc.axvline(per_round * info["max_rounds"], color="grey", linestyle=":", linewidth=1)
    acc.set(xlabel="cumulative optimizer steps (dotted: the 1x budget)", ylabel="accuracy", title=f"{label}: mean and 95% band over seeds")
    rank.set(xlabel="rounds", ylabel="rank of the cumulative update", title="rank growth (mean over seeds)")
    acc.legend(fontsize=7)
    rank.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def figures(plots: dict[str, str], prefix: str) -> str:
    """Markdown image links: accuracy against optimizer steps with bands, rank per round."""
    if not plots:
        return ""
    return "\n" + "\n".join(f"![{label}]({prefix}{name})" for label, name in plots.items()) + "\n"
