"""pass@k: the unbiased estimator against brute force, and its edge cases."""

from __future__ import annotations

import itertools
from math import comb

import pytest

from boostlora import ConfigError
from boostlora_plugins.code.metrics import mean_pass_at_k, pass_at_1_greedy, pass_at_k


@pytest.mark.parametrize("n,c,k", [(10, 3, 1), (10, 3, 5), (5, 0, 2), (5, 5, 3), (20, 1, 10), (7, 4, 7)])
def test_matches_the_closed_form(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))


def test_matches_enumeration_of_subsets():
    samples = [True, False, False, True, False, False]
    subsets = list(itertools.combinations(samples, 3))
    assert pass_at_k(6, 2, 3) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))


def test_pass_at_1_is_the_fraction_correct():
    assert pass_at_k(8, 3, 1) == pytest.approx(3 / 8)
    assert pass_at_1_greedy([True, False, True, True]) == 0.75
    assert pass_at_1_greedy([]) == 0.0
    assert mean_pass_at_k([(4, 1), (4, 3)], 1) == pytest.approx(0.5)


def test_refuses_impossible_counts():
    for n, c, k in [(3, 4, 1), (3, 1, 0), (3, 1, 4)]:
        with pytest.raises(ConfigError):
            pass_at_k(n, c, k)
