"""Intervals for benchmark comparisons: a difference is a claim only when its interval excludes zero.

Training is random (sampled rollouts, minibatch order, random projections), so the unit of replication is the
seed, not the test item: two methods run with the same seed share the data split and the evaluation items, and
the per-seed paired difference removes the split's difficulty from the comparison. The interval is Student's t
over those paired differences (n - 1 degrees of freedom), which is exact for normal seed-to-seed noise and
conservative next to an item-level bootstrap that ignores training randomness. scipy gives the t quantile;
the rest is arithmetic that a reader can check by hand.

Within one run the unit is the item: ``wilson_interval`` for one accuracy and ``paired_comparison`` for two models
judged on the same items (a run's base model against the round it kept). These describe the evaluation's noise
only, not the seed-to-seed noise of training.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import torch

from boostlora.foundation.errors import ConfigError

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean with its two-sided confidence interval over ``n`` values (no interval when ``n < 2``)."""

    mean: float
    low: float | None
    high: float | None
    n: int

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    def describe(self, digits: int = 3) -> str:
        if self.low is None or self.high is None:
            return f"{self.mean:.{digits}f} (n={self.n}, no interval)"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def t_quantile(level: float, dof: int) -> float:
    try:
        from scipy.stats import t
    except ImportError as exc:
        raise ConfigError("the benchmark's intervals need SciPy: pip install 'boostlora[bench]'") from exc

    return float(t.ppf(0.5 + level / 2, dof))


def mean_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Mean and Student-t confidence interval of ``values``."""
    n = len(values)
    if n == 0:
        raise ValueError("no values to summarise")
    mean = sum(values) / n
    if n < 2:
        return Interval(mean, None, None, n)
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    half = t_quantile(level, n - 1) * math.sqrt(variance / n)
    return Interval(mean, mean - half, mean + half, n)


def paired_differences(a: Mapping[int, float], b: Mapping[int, float]) -> dict[int, float]:
    """``a[seed] - b[seed]`` for the seeds both have, in seed order: never a difference across seeds."""
    return {seed: a[seed] - b[seed] for seed in sorted(set(a) & set(b))}


def paired_interval(a: Mapping[int, float], b: Mapping[int, float], level: float = LEVEL) -> Interval:
    """Interval of the mean per-seed difference ``a - b`` over the seeds both methods ran."""
    differences = paired_differences(a, b)
    if not differences:
        raise ValueError("the two methods share no seed: nothing to pair")
    return mean_interval(list(differences.values()), level)


def outcome(interval: Interval) -> str:
    """'wins' or 'loses' only where the interval excludes zero; 'tie' otherwise; one seed is an anecdote."""
    if interval.n < 2:
        return "anecdote (one seed)"
    if not interval.excludes_zero:
        return "tie"
    return "wins" if interval.mean > 0 else "loses"


def binomial_se(accuracy: float, n: int) -> float:
    """Standard error of one accuracy measured on ``n`` independent items: the evaluation's own noise."""
    return math.sqrt(max(accuracy * (1 - accuracy), 0.0) / n) if n else float("nan")


def wilson_interval(correct: int, n: int, level: float = LEVEL) -> Interval:
    """An accuracy ``correct / n`` with its Wilson score interval (Wilson 1927): the usual binomial interval that
    stays inside [0, 1] and behaves near 0 and 1, where the Wald interval ``p +- z * se`` does not."""
    if n == 0:
        return Interval(float("nan"), None, None, 0)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), n)


@dataclass(frozen=True)
class PairedComparison:
    """Two models judged on the same items: how many items each got right that the other did not, the difference
    in accuracy with its paired-bootstrap interval, and the exact McNemar test of "no difference"."""

    n: int
    gained: int  # wrong before, right after
    lost: int  # right before, wrong after
    difference: Interval  # accuracy after minus before, with a paired bootstrap interval over items
    mcnemar_p: float  # exact two-sided McNemar p-value (a binomial test on the discordant items)

    def describe(self) -> str:
        d = self.difference
        interval = f"[{d.low:+.3f}, {d.high:+.3f}]" if d.low is not None else "(no interval)"
        return (f"{d.mean:+.3f} {interval} over {self.n} items (+{self.gained} gained, -{self.lost} lost; "
                f"exact McNemar p={self.mcnemar_p:.3g})")


def mcnemar_exact_p(gained: int, lost: int) -> float:
    """Exact two-sided McNemar p-value: under "no difference" each discordant item is a fair coin, so the smaller
    count is Binomial(gained + lost, 1/2); the p-value doubles its lower tail (capped at 1)."""
    discordant = gained + lost
    if discordant == 0:
        return 1.0
    tail = sum(math.comb(discordant, i) for i in range(min(gained, lost) + 1)) / 2**discordant
    return min(1.0, 2 * tail)


def paired_comparison(before: Sequence[int], after: Sequence[int], level: float = LEVEL,
                      resamples: int = 10_000, seed: int = 0) -> PairedComparison:
    """Compare two 0/1 verdict lists over the same items (``after - before``).

    The interval is a percentile bootstrap over items, resampling each item's pair of verdicts together (a fixed
    seed, so a report always prints the same numbers); it needs no assumption about how the difference is
    distributed, which matters when few items changed.
    """
    if len(before) != len(after):
        raise ValueError(f"paired verdicts differ in length: {len(before)} and {len(after)}")
    n = len(before)
    gained = sum(1 for b, a in zip(before, after) if a and not b)
    lost = sum(1 for b, a in zip(before, after) if b and not a)
    if n == 0:
        return PairedComparison(0, 0, 0, Interval(float("nan"), None, None, 0), 1.0)
    differences = torch.tensor([float(a) - float(b) for b, a in zip(before, after)], dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    draws = torch.randint(0, n, (resamples, n), generator=generator)
    means = differences[draws].mean(dim=1)
    low, high = torch.quantile(means, torch.tensor([0.5 - level / 2, 0.5 + level / 2], dtype=torch.float64)).tolist()
    interval = Interval(float(differences.mean()), low, high, n)
    return PairedComparison(n, gained, lost, interval, mcnemar_exact_p(gained, lost))
