"""Recompute, from the saved suites, the numbers that RESULTS.md's hand-written text quotes, and print each one.

    python benchmarks/check_results.py

Nothing is retrained: every number comes from `benchmarks/data/*/suite-cpu.json` and its item verdicts, read the
way the benchmark's own tables read them (`ablations.load_rows`). The held-out question counts load the math
task's splits (reasoning-gym generates them; no model is loaded). Compare the printed values with RESULTS.md.
Last come the math tables on distinct held-out items (`distinct_items.py`), from the same saved verdicts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import distinct_items
from ablations import accuracies, load_rows
from boostlora.bench.tables import comparisons
from boostlora.foundation.stats import (
    LEVEL,
    mean_interval,
    outcome,
    paired_differences,
    paired_interval,
)

DATA = Path(__file__).resolve().parent / "data"
PROTEIN, MATH, CODE = "protein/binding", "math/math", "code/code"

#: the settings comparisons of RESULTS.md's validation tables: (task, reference folder, [compared folders])
VALIDATION = [
    (PROTEIN, "protein-validation/pv-default",
     ["pv-raw", "pv-noreplay", "pv-nolinesearch", "pv-paper", "pv-3x120", "pv-8x45", "pv-lr0.2", "pv-lr0.5",
      "pv-sharedP"]),
    (MATH, "math-validation/mv-gain",
     ["mv-matched", "mv-screen", "mv-2x6", "mv-dapo", "mv-replay", "mv-gen8", "mv-raw", "mv-steps", "mv-sharedP"]),
]


def signed(values: dict[int, float]) -> str:
    return ", ".join(f"seed {s} {v:+.3f}" for s, v in values.items())


def math_gain_vs_matched(math: dict, matched: dict) -> None:
    gain, old = accuracies(math, "boost-rotate"), accuracies(matched, "boost-rotate")
    differences = paired_differences(gain, old)
    print("math, rotate block_scale=gain minus matched (held-out, 1x), per seed:", signed(differences))
    print("  interval:", paired_interval(gain, old).describe(), outcome(paired_interval(gain, old)))
    lifted = [100 * d for d in differences.values() if d > 0]
    print(f"  seeds where gain lifted rotate: {len(lifted)} of {len(differences)}, "
          f"by {min(lifted):.1f}-{max(lifted):.1f} points")
    print("  rotate (gain) accuracy per seed:", ", ".join(f"{s} {a:.3f}" for s, a in gain.items()))


def math_held_out_sizes(math: dict) -> None:
    from boostlora.contract.plugins import find_task
    from boostlora_plugins.math.presets import PRESETS

    options = PRESETS["bench-cpu"]["task_options"]
    task, distinct = find_task("math", "math")(options), find_task("math", "math")({**options, "distinct_eval": True})
    for seed, row in math["boost-rotate"].items():
        questions = [example.question for example in task.load_splits(seed).eval]
        print(f"math held-out, seed {seed}: {row['n_eval']} problems judged in the saved run, "
              f"{len(questions)} in the split, {len(set(questions))} distinct questions, "
              f"{len(distinct.load_splits(seed).eval)} with distinct_eval (also none a validation carve can hold)")


def protein_ranks(protein: dict) -> None:
    for method in ("boost-rotate", "boost-rotate 2x", "boost-rotate 4x", "boost-top"):
        rows = protein[method]
        print(f"protein {method}: rank per seed {[row['rank'] for row in rows.values()]}, "
              f"rounds {sorted({row['rounds'] for row in rows.values()})}, "
              f"optimizer steps {sorted({row['steps'] for row in rows.values()})}")
    same = all(protein["boost-rotate 2x"][s]["verdicts"] == protein["boost-rotate 4x"][s]["verdicts"]
               for s in protein["boost-rotate 2x"])
    print(f"protein rotate 2x and 4x rows are the same run, verdict for verdict: {same}; "
          f"their partners take {protein['boost-top 2x'][0]['steps']} and {protein['boost-top 4x'][0]['steps']} steps")


def protein_baseline_lrs() -> None:
    for lr in ("0.001", "0.01", "0.05"):
        rows = load_rows(DATA / "protein-validation" / f"pvb-lr{lr}")[PROTEIN]
        for method in ("lora-r8", "full-ft"):
            values = accuracies(rows, method)
            first4 = mean_interval([values[s] for s in sorted(values)[:4]]).mean
            print(f"protein validation, {method} lr {lr}: {mean_interval(list(values.values())).describe()} "
                  f"over seeds {sorted(values)}; seeds 0-3 alone {first4:.3f}")


def code_validation() -> dict[str, dict[int, float]]:
    """The code entry's block scaling on the generated validation split: each run's last-round accuracy by seed
    (`code-validation/{gain,matched}-s{seed}/report.json`, from `boostlora run --plugin code --preset bench-cpu
    evaluate_on=validation block_scale=...`)."""
    out: dict[str, dict[int, float]] = {"gain": {}, "matched": {}}
    for path in sorted((DATA / "code-validation").glob("*-s*/report.json")):
        name, _, seed = path.parent.name.rpartition("-s")
        out[name][int(seed)] = json.loads(path.read_text())["rounds"][-1]["validation_accuracy"]
    return out


def comparison_family(protein: dict | None = None, math: dict | None = None) -> tuple[list, int]:
    """Every comparison RESULTS.md's tables make on real tasks, as (name, rotate's accuracies, the other's), and how
    many of them are on held-out (they come first). The distinct-item tables re-measure the math held-out ones."""
    protein = protein if protein is not None else load_rows(DATA / "protein-heldout")[PROTEIN]
    math = math if math is not None else load_rows(DATA / "math-heldout")[MATH]
    code = load_rows(DATA / "code-heldout")[CODE] if (DATA / "code-heldout").exists() else {}
    pairs = []
    for label, rows in ((PROTEIN, protein), (MATH, math), (CODE, code)):
        for c in comparisons(rows, (1, 2, 4)):
            pairs.append((f"held-out {label}: {c['ours']} vs {c['other']}", accuracies(rows, c["ours"]),
                          accuracies(rows, c["other"])))
    matched = accuracies(load_rows(DATA / "math-heldout-matched")[MATH], "boost-rotate")
    pairs.append(("held-out math/math: rotate (matched) vs tinylora", matched, accuracies(math, "tinylora")))
    pairs.append(("held-out math/math: rotate (gain) vs rotate (matched)", accuracies(math, "boost-rotate"), matched))
    held_out = len(pairs)
    for label, reference, names in VALIDATION:
        base = accuracies(load_rows(DATA / reference)[label], "boost-rotate")
        for name in names:
            rows = load_rows(DATA / Path(reference).parent / name)[label]
            pairs.append((f"validation {label}: {name} vs {Path(reference).name}", accuracies(rows, "boost-rotate"), base))
    scaling = code_validation()
    if scaling["gain"]:
        pairs.append((f"validation {CODE}: block_scale gain vs matched", scaling["gain"], scaling["matched"]))
    return pairs, held_out


def multiplicity(protein: dict, math: dict) -> None:
    """How many comparisons RESULTS.md's tables make, and which exclude 0 with and without a Bonferroni correction."""
    pairs, held_out = comparison_family(protein, math)
    n = len(pairs)
    adjusted = 1 - (1 - LEVEL) / n
    print(f"comparisons with a 95% interval: {held_out} on held-out, {n - held_out} on validation, {n} in all; "
          f"with no real difference anywhere about {(1 - LEVEL) * n:.1f} would exclude 0 by chance")
    for name, a, b in pairs:
        interval = paired_interval(a, b)
        if interval.excludes_zero:
            strict = paired_interval(a, b, adjusted)
            print(f"  {name}: {interval.describe()} excludes 0; at Bonferroni level {adjusted:.4f} "
                  f"{strict.describe()} {'still excludes 0' if strict.excludes_zero else 'reaches 0'}")


def main() -> None:
    protein = load_rows(DATA / "protein-heldout")[PROTEIN]
    math = load_rows(DATA / "math-heldout")[MATH]
    matched = load_rows(DATA / "math-heldout-matched")[MATH]
    math_gain_vs_matched(math, matched)
    math_held_out_sizes(math)
    protein_ranks(protein)
    protein_baseline_lrs()
    multiplicity(protein, math)
    print("\nmath on distinct held-out items (benchmarks/distinct_items.py):\n")
    print(distinct_items.main(len(comparison_family(protein, math)[0])))


if __name__ == "__main__":
    main()
