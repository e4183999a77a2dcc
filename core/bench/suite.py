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
the same items. ``boostlora.foundation.stats`` turns per-seed accuracies into intervals and paired comparisons. Units of
work (task x method x seed) are saved as they finish, with item-level verdicts beside them, so an interrupted
suite resumes where it stopped and any comparison can be recomputed without rerunning. Boosting units also keep
a checkpointed run directory under ``runs/`` in the suite's folder (``units.boosting_unit``): an interrupted
suite resumes mid-unit, at the last finished round, and a longer run continues the shorter one.
"""

from __future__ import annotations

import copy
import json
import platform
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from boostlora.bench.tables import write_tables
from boostlora.bench.units import (
    METHODS,
    SUITE_DEFAULTS,
    check_entries,
    method_configs,
    run_entry,
    steps_per_round,
    suite_entries,
)
from boostlora.foundation.errors import ConfigError, Interrupted, interruption
from boostlora.runs.checkpoint import write_json

VERSIONED = ("boostlora", "torch", "transformers", "peft", "trl")
#: The suite folder's subfolder that holds the boosting units' run directories (checkpoints, no models).
RUNS = "runs"


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


def saved_state(folder: Path, suite: str) -> dict[str, Any]:
    """A suite folder's saved units, with their item-level verdicts joined back in, and its entries (both empty
    where the folder holds no suite)."""
    saved = folder / f"suite-{suite}.json"
    if not saved.exists():
        return {"units": {}, "entries": {}}
    previous = json.loads(saved.read_text())
    verdicts_file = folder / f"suite-{suite}-verdicts.json"
    verdicts = json.loads(verdicts_file.read_text()) if verdicts_file.exists() else {}
    return {"units": join_verdicts(previous.get("units", {}), verdicts), "entries": previous.get("entries", {})}


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
    state = saved_state(out, suite) if resume else {"units": {}, "entries": {}}
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
            try:
                run_entry(entry, methods, s, overrides, extensions=extensions_t, done=done, save=persist,
                          work=out / RUNS)
            except (KeyboardInterrupt, Interrupted) as exc:
                raise suite_interrupted(exc, out, command or f"boostlora bench --suite {suite}") from None
    write_json(saved, {"environment": env, "entries": state["entries"], "units": split_verdicts(runs)[0]})
    return write_tables(suite, out, state, env, results_file)


def suite_interrupted(exc: BaseException, out: Path, command: str) -> Interrupted:
    """What an interrupted suite keeps and the one command that continues it (a unit's own run directory is
    continued by the suite, not by ``boostlora run --resume``, so that the suite's files hear of it)."""
    code = exc.exit_code if isinstance(exc, Interrupted) else interruption(exc)[1]  # type: ignore[arg-type]
    again = command if " --resume" in command else f"{command} --resume"
    return Interrupted(f"suite interrupted: finished units are saved in {out}, a boosting run in progress up to its "
                       f"last finished round under {out / RUNS}; continue with: {again}", code)


#: A results file may open with text a person wrote (what the numbers mean); regenerating keeps it.
