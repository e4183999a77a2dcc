"""Compare benchmark suites that differ in one setting: the table behind a preset's choice.

Each argument is NAME=DIR, a `boostlora bench` output folder (run with `evaluate_on=validation`, so the choice
never touches the held-out split). The first one is the reference configuration. For every configuration the
table shows rotate's, top's and single-shot TinyLoRA's mean accuracy with a 95% interval over seeds, and two
paired comparisons (by seed): rotate against the reference configuration's rotate, and rotate against
single-shot TinyLoRA within the configuration.

    python benchmarks/ablations.py default=runs/pv-default raw=runs/pv-raw ... > table.md
"""

from __future__ import annotations

import sys
from pathlib import Path

from boostlora.bench.tables import entry_rows, units_by_entry
from boostlora.bench.suite import saved_state
from boostlora.foundation.stats import mean_interval, outcome, paired_interval


def load_rows(folder: Path, suite: str = "cpu") -> dict[str, dict[str, dict[int, dict]]]:
    """``rows[task label][method][seed]`` of a saved suite, as the benchmark's own tables read them."""
    if not (folder / f"suite-{suite}.json").exists():
        raise SystemExit(f"{folder} holds no saved suite (suite-{suite}.json)")
    state = saved_state(folder, suite)
    grouped = units_by_entry(state)
    return {
        label: entry_rows(label, grouped[label], info["max_rounds"], info["steps_per_round"],
                          tuple(info["extensions"]), tuple(info.get("methods", ())))
        for label, info in state["entries"].items() if label in grouped
    }


def accuracies(rows: dict[str, dict[int, dict]], method: str) -> dict[int, float]:
    return {seed: row["accuracy"] for seed, row in rows.get(method, {}).items()}


def cell(values: dict[int, float]) -> str:
    if not values:
        return ""
    interval = mean_interval(list(values.values()))
    return interval.describe()


def compared(a: dict[int, float], b: dict[int, float]) -> str:
    if not set(a) & set(b):
        return ""
    interval = paired_interval(a, b)
    return f"{interval.describe()} {outcome(interval)}"


def main(arguments: list[str]) -> str:
    configs = [(name, Path(folder)) for name, folder in (a.split("=", 1) for a in arguments)]
    loaded = {name: load_rows(folder) for name, folder in configs}
    reference = configs[0][0]
    lines = []
    for label in loaded[reference]:
        lines += [
            f"### {label}",
            "",
            f"| configuration | zero-shot | boost-rotate | boost-top | tinylora | rotate minus {reference} rotate "
            "(paired) | rotate minus tinylora (paired) |",
            "|---|---|---|---|---|---|---|",
        ]
        base = accuracies(loaded[reference][label], "boost-rotate")
        for name, _ in configs:
            rows = loaded[name].get(label, {})
            rotate = accuracies(rows, "boost-rotate")
            lines.append(
                f"| {name} | {cell(accuracies(rows, 'zero-shot'))} | {cell(rotate)} | "
                f"{cell(accuracies(rows, 'boost-top'))} | {cell(accuracies(rows, 'tinylora'))} | "
                f"{'' if name == reference else compared(rotate, base)} | "
                f"{compared(rotate, accuracies(rows, 'tinylora'))} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(main(sys.argv[1:]))
