"""Join saved suites (each task's runs in its own folder) into one folder, so one command tables them all.

    python benchmarks/merge_suites.py benchmarks/data/protein-heldout benchmarks/data/math-heldout --out /tmp/cpu-all
    boostlora bench --suite cpu --plugins protein --seeds 0 1 2 3 4 --extensions 1 2 4 --out /tmp/cpu-all --resume \
        --results benchmarks/RESULTS.md

The second command retrains nothing: every unit it asks for is already saved, and it writes tables for every
task in the folder. A unit saved in two folders with different contents is refused rather than silently chosen,
with one exception: a boosting run asked for more rounds (an extended-training run) whose base and first rounds
are the shorter run's, verdict for verdict, replaces it, since it holds the shorter run as its first rounds.
A task's seeds, methods and extensions are joined; its settings (preset, rounds, steps, split) must agree.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from boostlora.bench.suite import join_verdicts, split_verdicts
from boostlora.bench.units import first_difference
from boostlora.runs.checkpoint import write_json


#: What a task's runs were made with: folders that disagree on these hold different experiments.
SETTINGS = ("plugin", "task", "preset", "max_rounds", "steps_per_round", "evaluate_on")
JOINED = ("seeds", "extensions", "methods")


def extends(longer: dict, shorter: dict) -> bool:
    """Whether ``longer`` is the same boosting run as ``shorter``, asked for more rounds."""
    if longer.get("kind") != "boosting" or shorter.get("kind") != "boosting":
        return False
    return (longer.get("rounds_asked", 0) > shorter.get("rounds_asked", 0)
            and len(longer["rounds"]) >= len(shorter["rounds"]) and first_difference(longer, shorter) is None)


def conflict(key: str, a: dict, b: dict) -> str:
    """Why two saved results of one unit cannot be joined; for boosting runs, the first round where they part."""
    message = f"{key} is saved in two folders with different results; keep one"
    if a.get("kind") == b.get("kind") == "boosting":
        longer, shorter = (a, b) if len(a["rounds"]) >= len(b["rounds"]) else (b, a)
        where = first_difference(longer, shorter)
        if where is not None:
            message += (f" (they differ from {where} on; made with {shorter.get('threads', 'unrecorded')} and "
                        f"{longer.get('threads', 'unrecorded')} torch threads: runs repeat exactly only on the same "
                        "device and thread count)")
    return message


def join_entry(label: str, a: dict, b: dict) -> dict:
    if any(a.get(k) != b.get(k) for k in SETTINGS):
        raise SystemExit(f"entry {label} was run with different settings in two folders "
                         f"({', '.join(k for k in SETTINGS if a.get(k) != b.get(k))}); keep one")
    return {**a, **{k: sorted(set(a.get(k, [])) | set(b.get(k, []))) for k in JOINED}}


def merge(folders: list[Path], out: Path, suite: str = "cpu") -> dict:
    units: dict = {}
    entries: dict = {}
    environment = None
    for folder in folders:
        saved = json.loads((folder / f"suite-{suite}.json").read_text())
        verdicts_file = folder / f"suite-{suite}-verdicts.json"
        verdicts = json.loads(verdicts_file.read_text()) if verdicts_file.exists() else {}
        for key, unit in join_verdicts(saved["units"], verdicts).items():
            if key in units and units[key] != unit:
                if extends(units[key], unit):
                    continue
                if not extends(unit, units[key]):
                    raise SystemExit(conflict(key, units[key], unit))
            units[key] = unit
        for label, entry in saved["entries"].items():
            entries[label] = join_entry(label, entries[label], entry) if label in entries else entry
        environment = environment or saved.get("environment")
    out.mkdir(parents=True, exist_ok=True)
    light, verdicts = split_verdicts(units)
    write_json(out / f"suite-{suite}-verdicts.json", verdicts)
    write_json(out / f"suite-{suite}.json", {"environment": environment, "entries": entries, "units": light})
    return {"units": len(units), "entries": sorted(entries)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--suite", default="cpu")
    args = parser.parse_args()
    print(merge(args.folders, args.out, args.suite))


if __name__ == "__main__":
    main()
