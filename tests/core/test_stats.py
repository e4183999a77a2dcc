"""The benchmark's statistics: intervals that cover what they should, and pairing by seed, never by position."""

from __future__ import annotations

import random

import pytest

from boostlora.foundation.stats import binomial_se, mean_interval, outcome, paired_differences, paired_interval


def test_t_interval_matches_the_textbook_numbers():
    # mean 3, sample sd 1.5811, n=5: half-width t(0.975, 4) * sd / sqrt(5) = 2.7764 * 0.7071 = 1.9632
    interval = mean_interval([1, 2, 3, 4, 5])
    assert interval.mean == 3
    assert interval.low == pytest.approx(3 - 1.9632, abs=1e-4) and interval.high == pytest.approx(3 + 1.9632, abs=1e-4)


def test_paired_interval_covers_a_known_difference_about_95_percent_of_the_time():
    """Constructed case: method A is B plus a true gain of 0.03, with shared per-seed difficulty and noise."""
    rng = random.Random(0)
    covered, trials = 0, 2000
    for _ in range(trials):
        a, b = {}, {}
        for seed in range(5):
            difficulty = rng.gauss(0.5, 0.1)  # shared by both methods under one seed: pairing removes it
            b[seed] = difficulty + rng.gauss(0, 0.02)
            a[seed] = difficulty + 0.03 + rng.gauss(0, 0.02)
        interval = paired_interval(a, b)
        covered += interval.low <= 0.03 <= interval.high
    assert 0.93 <= covered / trials <= 0.97


def test_pairing_uses_matching_seeds_not_positions():
    a = {0: 0.50, 1: 0.60, 2: 0.70}
    b = {2: 0.65, 0: 0.45, 1: 0.55, 7: 0.99}  # other order, and a seed the first method never ran
    assert paired_differences(a, b) == pytest.approx({0: 0.05, 1: 0.05, 2: 0.05})
    interval = paired_interval(a, b)
    assert interval.n == 3 and interval.mean == pytest.approx(0.05) and interval.high - interval.low < 1e-9
    with pytest.raises(ValueError, match="share no seed"):
        paired_interval({0: 0.5}, {1: 0.5})


def test_wins_and_losses_need_an_interval_that_excludes_zero():
    assert outcome(paired_interval({0: 0.6, 1: 0.62, 2: 0.61}, {0: 0.5, 1: 0.5, 2: 0.5})) == "wins"
    assert outcome(paired_interval({0: 0.4, 1: 0.42, 2: 0.41}, {0: 0.5, 1: 0.5, 2: 0.5})) == "loses"
    assert outcome(paired_interval({0: 0.6, 1: 0.4, 2: 0.52}, {0: 0.5, 1: 0.5, 2: 0.5})) == "tie"
    assert outcome(paired_interval({0: 0.9}, {0: 0.1})) == "anecdote (one seed)"


def test_binomial_standard_error():
    assert binomial_se(0.5, 400) == pytest.approx(0.025)
    assert binomial_se(0.0, 10) == 0.0
