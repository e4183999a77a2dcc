"""The math tables again, on distinct held-out items only, recomputed from the saved verdicts (nothing retrained).

    python benchmarks/distinct_items.py

The saved math suites were judged on the `bench-cpu` held-out split as it was: 353-357 problems per seed, some
of them repeats, some shared with the validation carves the settings were chosen on. The math task's
`distinct_eval` option filters that split by a fixed rule (``boostlora_plugins.math.data.distinct_indices``): each
question once, none that a validation split of the seed can hold. Training never reads the held-out split, so a
run on the filtered split would have trained exactly as the saved one did, and its verdicts are the saved verdicts
at the kept positions. This regenerates each seed's split with the task's own data code (no model), takes those
positions, and prints, in Markdown, each method's mean accuracy over seeds and every paired comparison of
rotate on all items and on distinct items, saying which comparisons changed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ablations import accuracies, load_rows
from boostlora.bench.tables import comparisons, seed_list
from boostlora.foundation.stats import (
    LEVEL,
    Interval,
    mean_interval,
    outcome,
    paired_differences,
    paired_interval,
)

DATA = Path(__file__).resolve().parent / "data"
MATH = "math/math"
Rows = dict[str, dict[int, dict[str, Any]]]


def kept_positions(seeds: list[int]) -> dict[int, tuple[int, list[int]]]:
    """Per seed: the saved split's size and the positions of it that ``distinct_eval`` keeps.

    Both splits come from the task itself (``bench-cpu`` as saved, and with ``distinct_eval`` on); the positions
    are checked to give the task's distinct split item for item, so this script cannot drift from the task's rule.
    """
    from boostlora_plugins.math.data import distinct_indices
    from boostlora_plugins.math.presets import PRESETS
    from boostlora_plugins.math.task import MathTask

    options = PRESETS["bench-cpu"]["task_options"]
    saved, distinct = MathTask(options), MathTask({**options, "distinct_eval": True})
    out = {}
    for seed in seeds:
        old, new = saved.load_splits(seed), distinct.load_splits(seed)
        wide = MathTask({**options, "train_size": options["reserved_train_size"]}).load_splits(seed)
        positions = distinct_indices(old.eval, [*old.train, *wide.train, *(old.validation or [])])
        if [old.eval[i] for i in positions] != list(new.eval):
            raise SystemExit(f"seed {seed}: the positions do not give the task's distinct held-out split")
        out[seed] = (len(old.eval), positions)
    return out


def on_distinct(rows: Rows, kept: dict[int, tuple[int, list[int]]]) -> Rows:
    """The same rows with accuracy recomputed from the verdicts at the kept positions."""
    out: Rows = {}
    for method, per_seed in rows.items():
        for seed, row in per_seed.items():
            size, positions = kept[seed]
            verdicts = row["verdicts"]
            if len(verdicts) != size or abs(sum(verdicts) / size - row["accuracy"]) > 1e-9:
                raise SystemExit(f"{method} seed {seed}: {len(verdicts)} saved verdicts do not match the "
                                 f"{size}-item split and the saved accuracy")
            chosen = [verdicts[i] for i in positions]
            out.setdefault(method, {})[seed] = {**row, "verdicts": chosen, "accuracy": sum(chosen) / len(chosen),
                                                "n_eval": len(chosen)}
    return out


def signed(interval: Interval) -> str:
    """The mean and interval with signs; a bound that rounds to zero gets a fourth digit, so its side shows."""
    if interval.low is None:
        return f"{interval.mean:+.3f} (no interval)"
    def bound(x: float) -> str:
        return f"{x:+.4f}" if round(x, 3) == 0 else f"{x:+.3f}"

    return f"{interval.mean:+.3f} [{bound(interval.low)}, {bound(interval.high)}]"


def change(before: Interval, after: Interval) -> str:
    """What moved between the two intervals of one comparison: its outcome, or the sign of its mean."""
    said = []
    if outcome(before) != outcome(after):
        said.append(f"{outcome(before)} -> {outcome(after)} (interval now "
                    f"{'excludes' if after.excludes_zero else 'includes'} 0)")
    if (before.mean > 0) != (after.mean > 0):
        said.append("sign of the mean flipped")
    return "; ".join(said) or "no"


def pairs(all_items: Rows, matched: Rows) -> list[tuple[str, str, str, Rows, Rows]]:
    """Every comparison of the math tables: (label, row a, row b, rows holding a, rows holding b)."""
    out = [(f"{c['ours']} vs {c['other']}", c["ours"], c["other"], all_items, all_items)
           for c in comparisons(all_items, (1, 2, 4))]
    out.append(("rotate (matched) vs tinylora", "boost-rotate", "tinylora", matched, all_items))
    out.append(("rotate (gain) vs rotate (matched)", "boost-rotate", "boost-rotate", all_items, matched))
    return out


def tables(all_items: Rows, matched: Rows, kept: dict[int, tuple[int, list[int]]], family: int) -> str:
    """Markdown: per method, accuracy on all and on distinct items; per comparison, both intervals and what changed.

    ``family`` is how many comparisons RESULTS.md makes in all: an interval that excludes 0 on distinct items is
    also shown at the Bonferroni level ``1 - 0.05 / family``.
    """
    distinct, matched_distinct = on_distinct(all_items, kept), on_distinct(matched, kept)
    sizes = {seed: (size, len(positions)) for seed, (size, positions) in sorted(kept.items())}
    lines = [
        "Items per seed (all -> distinct): " + ", ".join(f"seed {s} {a} -> {d}" for s, (a, d) in sizes.items()),
        "",
        "| method | seeds | all items, mean [95% CI] | distinct items, mean [95% CI] |",
        "|---|---|---|---|",
    ]
    shown = [(name, all_items[name], distinct[name]) for name in all_items]
    shown.append(("boost-rotate (block_scale=matched)", matched["boost-rotate"], matched_distinct["boost-rotate"]))
    for name, before, after in shown:
        a = mean_interval([row["accuracy"] for row in before.values()])
        b = mean_interval([row["accuracy"] for row in after.values()])
        lines.append(f"| {name} | {seed_list(list(before))} | {a.describe()} | {b.describe()} |")
    lines += [
        "",
        ("| comparison, paired by seed | seeds | all items [95% CI] | outcome | distinct items [95% CI] | outcome | "
         f"distinct, per seed | changed | distinct, at 1 - 0.05/{family} |"),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    strict = 1 - (1 - LEVEL) / family
    swap = {id(all_items): distinct, id(matched): matched_distinct}
    for label, a, b, rows_a, rows_b in pairs(all_items, matched):
        before = paired_interval(accuracies(rows_a, a), accuracies(rows_b, b))
        now_a, now_b = accuracies(swap[id(rows_a)], a), accuracies(swap[id(rows_b)], b)
        after = paired_interval(now_a, now_b)
        seeds = sorted(set(rows_a[a]) & set(rows_b[b]))
        per_seed = ", ".join(f"{d:+.3f}" for d in paired_differences(now_a, now_b).values())
        corrected = ""
        if after.excludes_zero:
            bonferroni = paired_interval(now_a, now_b, strict)
            corrected = f"{signed(bonferroni)} {'excludes' if bonferroni.excludes_zero else 'reaches'} 0"
        lines.append(f"| {label} | {seed_list(seeds)} | {signed(before)} | {outcome(before)} | {signed(after)} | "
                     f"{outcome(after)} | {per_seed} | {change(before, after)} | {corrected} |")
    return "\n".join(lines)


def main(family: int | None = None) -> str:
    all_items = load_rows(DATA / "math-heldout")[MATH]
    matched = load_rows(DATA / "math-heldout-matched")[MATH]
    seeds = sorted({seed for per_seed in all_items.values() for seed in per_seed})
    if family is None:
        from check_results import comparison_family

        family = len(comparison_family()[0])
    return tables(all_items, matched, kept_positions(seeds), family)


if __name__ == "__main__":
    print(main())
