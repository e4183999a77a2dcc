"""The suite's plots: accuracy against optimizer steps with 95% bands, one figure per task (matplotlib, optional)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from boostlora.foundation.stats import mean_interval


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
