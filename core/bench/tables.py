"""From saved units to numbers: per-seed rows, means with intervals, paired comparisons and RESULTS.md."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from boostlora.bench.plots import figures, plot_entry
from boostlora.bench.units import METHODS, covers
from boostlora.foundation.stats import (
    Interval,
    binomial_se,
    mean_interval,
    outcome,
    paired_differences,
    paired_interval,
)

BY_HAND_START, BY_HAND_END = "<!-- written by hand: kept when the tables are regenerated -->", "<!-- end of hand-written text -->"



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


def written_by_hand(results_file: Path) -> str:
    """The hand-written block at the top of an existing results file, markers included ('' if none)."""
    if not results_file.exists():
        return ""
    text = results_file.read_text()
    start, end = text.find(BY_HAND_START), text.find(BY_HAND_END)
    if start < 0 or end < start:
        return ""
    return text[start:end + len(BY_HAND_END)] + "\n\n"


def seed_list(seeds: list[int]) -> str:
    """Which seeds a row stands on, as a reader checks them: "0-4" for a run of three or more, else "0, 1"."""
    seeds = sorted(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


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
            f"| {method} | {mean} | {ci} | {seed_list(s['seeds'])} | {se} | {s['params']:,} | {s['total_params']:,} | "
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
            "| comparison | seeds | optimizer steps (rotate / other) | mean difference | 95% CI | per-seed differences "
            "| outcome |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in compared:
            mean, ci = fmt_interval(c["interval"])
            per_seed = ", ".join(f"{d:+.3f}" for d in c["differences"].values())
            steps = f"{c['steps'][0]:.0f} / {c['steps'][1]:.0f}"
            seeds = seed_list(list(c["differences"]))
            lines.append(f"| {c['ours']} vs {c['other']} | {seeds} | {steps} | {float(mean):+.3f} | {ci} | {per_seed} | "
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
