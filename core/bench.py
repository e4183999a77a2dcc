"""The cross-domain benchmark: every built-in task under every method, same splits, seed and objective.

Methods, at equal optimizer steps (the steps of all rotate rounds together):
  zero-shot        the base model (read from the boosting runs' base evaluation: same splits, same model)
  tinylora         single-shot TinyLoRA: one round on the whole train split, top block, same r and u
  boost-top        BoostLoRA with the top strategy (the paper's ablation)
  boost-rotate     BoostLoRA with rotate (the paper's method)
  lora-r8          single-shot peft LoRA, rank 8, same target modules
  full-ft          full fine-tuning

A suite picks one preset per task: ``cpu`` uses a task's ``bench-cpu`` preset (else ``default``), ``paper``
its ``paper*`` presets. Results go to JSON, a Markdown table and one PNG per task.
"""

from __future__ import annotations

import dataclasses
import json
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
from .errors import ConfigError
from .loop import boost
from .plugins import collect, find_objective, find_task

METHODS = ("zero-shot", "tinylora", "boost-top", "boost-rotate", "lora-r8", "full-ft")
SUITES = ("cpu", "paper")
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
    """Resolved settings of every trained method for one task: what a dry run prints and checks.

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
    steps = rotate.objective_options.get("steps")
    if steps is None:
        steps = find_objective(rotate.objective or cls.default_objective).default_options.get("steps")
    if not isinstance(steps, int):
        raise ConfigError(f"{entry.label}: its objective has no integer 'steps' option, so equal-step baselines are undefined")
    total = steps * rotate.max_rounds

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


def run_entry(entry: Entry, methods: tuple[str, ...], seed: int, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every requested method on one task. Rotate always runs: the baselines get the steps it actually took."""
    configs = method_configs(entry, seed, overrides)
    rotate = configs["boost-rotate"]
    per_round = configs["tinylora"].objective_options["steps"] // rotate.max_rounds
    results: dict[str, Any] = {}

    started = time.perf_counter()
    report = boost(rotate)
    results["boost-rotate"] = summarise(report, time.perf_counter() - started)
    results["zero-shot"] = {"final_eval_accuracy": report["base_eval_accuracy"], "trainable_params": 0,
                            "total_trainable_params": 0, "final_rank": 0, "rounds": 0, "rounds_merged": 0,
                            "seconds": 0.0, "curve": [], "ranks": []}
    budget = per_round * max(1, len(report["rounds"]))

    def with_budget(config: RunConfig) -> RunConfig:
        return dataclasses.replace(config, objective_options={**config.objective_options, "steps": budget})

    if "boost-top" in methods:
        started = time.perf_counter()
        results["boost-top"] = summarise(boost(configs["boost-top"]), time.perf_counter() - started)
    if "tinylora" in methods:
        started = time.perf_counter()
        results["tinylora"] = summarise(boost(with_budget(configs["tinylora"])), time.perf_counter() - started)
    for method, kind in (("lora-r8", "lora"), ("full-ft", "full")):
        if method in methods:
            record = train_single_shot(configs[method], kind, steps=budget)
            results[method] = {
                "final_eval_accuracy": record["final_eval_accuracy"],
                "trainable_params": record["trainable_params"],
                "total_trainable_params": record["total_trainable_params"],
                "final_rank": max(record["effective_rank"].values(), default=0),
                "rounds": 1, "rounds_merged": 1,
                "seconds": record["seconds"], "curve": [], "ranks": [],
                "lr": learning_rate(configs[method]),
            }
    for method in ("boost-rotate", "boost-top", "tinylora"):
        if method in results:
            results[method]["lr"] = learning_rate(configs[method])
    published = find_task(entry.plugin, entry.task).reference_results.get(entry.preset, {})
    for method, value in published.items():
        if method in results:
            results[method]["paper"] = value
    return {method: results[method] for method in METHODS if method in results and method in methods}


def learning_rate(config: RunConfig) -> float | None:
    objective = config.objective or find_task(config.plugin, config.task).default_objective
    return config.objective_options.get("lr", find_objective(objective).default_options.get("lr"))


def summarise(report: dict[str, Any], seconds: float) -> dict[str, Any]:
    rounds = report["rounds"]
    return {
        "final_eval_accuracy": report["final_eval_accuracy"],
        "trainable_params": rounds[0]["trainable_params"] if rounds else 0,
        "total_trainable_params": report["total_trainable_params"],
        "final_rank": max(rounds[-1]["effective_rank"].values(), default=0) if rounds else 0,
        "rounds": len(rounds),
        # a line search that picks step 0 trains a round but merges nothing: it adds no rank
        "rounds_merged": sum(1 for r in rounds if r.get("step_size", 1.0) != 0),
        "seconds": seconds,
        "curve": [report["base_eval_accuracy"]] + [r["eval_accuracy"] for r in rounds],
        "ranks": [0] + [max(r["effective_rank"].values(), default=0) for r in rounds],
        "stop_reason": report.get("stop_reason"),
    }


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


def markdown(suite: str, results: dict[str, dict[str, Any]], env: dict[str, Any]) -> str:
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
        "Held-out accuracy after training (the task's headline metric); parameters trained per round and in total;",
        "rounds run and, in brackets, merged (a line search may merge a round at step 0, which adds no rank);",
        "final effective rank (numerical rank of W - W0, largest over target modules); learning rate; wall time.",
        "All methods of a task share its splits, seed, objective and optimizer steps in total.",
        "",
    ]
    published = any("paper" in row for methods in results.values() for row in methods.values())
    header = ["task", "method", "held-out accuracy", *(["paper"] if published else []), "params / round",
              "params total", "rounds (merged)", "final rank", "lr", "seconds"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, methods in results.items():
        for method, row in methods.items():
            paper = [f"{row['paper']:.3f}" if "paper" in row else ""] if published else []
            cells = [label, method, f"{row['final_eval_accuracy']:.3f}", *paper, f"{row['trainable_params']:,}",
                     f"{row['total_trainable_params']:,}", f"{row['rounds']} ({row['rounds_merged']})",
                     str(row["final_rank"]), "" if row.get("lr") is None else format(row["lr"], "g"),
                     f"{row['seconds']:.0f}"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_entry(label: str, methods: dict[str, Any], path: Path) -> Path | None:
    """Three panels: accuracy per round (top vs rotate), effective rank per round, accuracy vs parameters."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, (acc, rank, params) = plt.subplots(1, 3, figsize=(13, 3.6))
    for method in ("boost-top", "boost-rotate"):
        if method in methods:
            curve = methods[method]["curve"]
            acc.plot(range(len(curve)), curve, marker="o", label=method)
            rank.plot(range(len(methods[method]["ranks"])), methods[method]["ranks"], marker="o", label=method)
    acc.set(xlabel="rounds merged", ylabel="held-out accuracy", title=label)
    rank.set(xlabel="rounds merged", ylabel="effective rank of W - W0", title="rank growth")
    for method, row in methods.items():
        params.scatter(max(row["total_trainable_params"], 1), row["final_eval_accuracy"], label=method)
    params.set(xscale="log", xlabel="trainable parameters (total)", ylabel="held-out accuracy", title="accuracy vs parameters")
    for axis in (acc, rank, params):
        axis.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_suite(
    suite: str,
    out: Path,
    *,
    plugins: list[str] | None = None,
    methods: tuple[str, ...] = METHODS,
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
    dry_run: bool = False,
    resume: bool = False,
    results_file: Path | None = None,
    command: str = "",
) -> dict[str, Any]:
    """Run (or, with ``dry_run``, only resolve) a suite; write JSON, Markdown and plots into ``out``."""
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ConfigError(f"unknown method(s) {', '.join(unknown)} (available: {', '.join(METHODS)})")
    entries = suite_entries(suite, plugins)
    if dry_run:
        return {e.label: {m: c.to_dict() for m, c in method_configs(e, seed, overrides).items()} for e in entries}
    check_entries(entries, seed, overrides)
    out.mkdir(parents=True, exist_ok=True)
    env = environment(command or f"boostlora bench --suite {suite}")
    saved = out / f"suite-{suite}.json"
    results: dict[str, Any] = {}
    if resume and saved.exists():
        finished = json.loads(saved.read_text())["results"]
        results = {e.label: finished[e.label] for e in entries if e.label in finished}
    for entry in entries:
        if entry.label not in results:
            results[entry.label] = run_entry(entry, methods, seed, overrides)
            # saved after every task: an interrupted suite keeps what it finished (``--resume`` skips it)
            write_json(saved, {"environment": env, "results": results})
    results = {e.label: results[e.label] for e in entries}
    plots = {}
    for label, rows in results.items():
        name = label.replace("/", "-").replace(" ", "_").replace("(", "").replace(")", "") + ".png"
        if plot_entry(label, rows, out / name):
            plots[label] = name
    table = markdown(suite, results, env)
    (out / f"RESULTS-{suite}.md").write_text(table + figures(plots, ""))
    if results_file is not None:
        # the committed table carries its plots beside it, in plots/, so it renders on its own
        folder = results_file.parent / "plots"
        if plots:
            folder.mkdir(parents=True, exist_ok=True)
        for name in plots.values():
            shutil.copyfile(out / name, folder / f"{suite}-{name}")
        results_file.write_text(table + figures({k: f"{suite}-{v}" for k, v in plots.items()}, "plots/"))
    return results


def figures(plots: dict[str, str], prefix: str) -> str:
    """Markdown image links: held-out metric per round (top vs rotate), rank per round, metric vs parameters."""
    if not plots:
        return ""
    return "\n" + "\n".join(f"![{label}]({prefix}{name})" for label, name in plots.items()) + "\n"
