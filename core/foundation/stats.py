"""Intervals for benchmark comparisons: a difference is a claim only when its interval excludes zero.

Training is random (sampled rollouts, minibatch order, random projections), so the unit of replication is the
seed, not the test item: two methods run with the same seed share the data split and the evaluation items, and
the per-seed paired difference removes the split's difficulty from the comparison. The interval is Student's t
over those paired differences (n - 1 degrees of freedom), which is exact for normal seed-to-seed noise and
conservative next to an item-level bootstrap that ignores training randomness. scipy gives the t quantile;
the rest is arithmetic that a reader can check by hand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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
