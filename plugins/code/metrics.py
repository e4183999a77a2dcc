"""pass@k: the probability that at least one of k samples passes, estimated without bias from n >= k samples.

Sampling exactly k completions and checking whether any passes has high variance; Chen et al. (2021) draw
n >= k, count the c that pass, and average 1 - C(n-c, k) / C(n, k) over problems. The product form below
avoids the huge binomials.
"""

from __future__ import annotations

from collections.abc import Iterable

from boostlora import ConfigError


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with ``c`` of ``n`` samples correct."""
    if not 0 <= c <= n or k < 1:
        raise ConfigError(f"pass@k needs 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if k > n:
        raise ConfigError(f"pass@{k} needs at least {k} samples per problem, got {n}")
    if n - c < k:
        return 1.0
    miss = 1.0
    for i in range(n - c + 1, n + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def mean_pass_at_k(counts: Iterable[tuple[int, int]], k: int) -> float:
    """pass@k averaged over problems given ``(n, c)`` per problem."""
    values = [pass_at_k(n, c, k) for n, c in counts]
    return sum(values) / len(values) if values else 0.0


def pass_at_1_greedy(correct: Iterable[bool]) -> float:
    """pass@1 of greedy decoding: one deterministic sample per problem, so simply the fraction solved."""
    correct = list(correct)
    return sum(correct) / len(correct) if correct else 0.0
