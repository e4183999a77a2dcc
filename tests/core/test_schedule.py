"""The per-round learning-rate schedule: the warm-up really warms up, and no step is spent at zero."""

from __future__ import annotations

import pytest
import torch

from boostlora.foundation.errors import ConfigError
from boostlora.objectives.schedule import warmup_schedule


def rates(warmup: int, total: int, kind: str = "constant") -> list[float]:
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    schedule = warmup_schedule(optimizer, warmup, total, kind)
    seen = []
    for _ in range(total):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return seen


def test_one_warmup_step_halves_the_first_step():
    assert rates(1, 3) == pytest.approx([0.5, 1.0, 1.0])


def test_warmup_ramps_linearly_and_never_starts_at_zero():
    assert rates(3, 5) == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])


def test_no_warmup_is_constant():
    assert rates(0, 3) == pytest.approx([1.0, 1.0, 1.0])


def test_cosine_decays_after_warmup():
    seen = rates(1, 5, "cosine")
    assert seen[0] == pytest.approx(0.5) and seen[1] == pytest.approx(1.0)
    assert seen[1] > seen[2] > seen[3] > seen[4]


def test_unknown_schedule_is_refused_before_training():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ConfigError, match="unknown schedule 'linear'"):
        warmup_schedule(optimizer, 1, 3, "linear")
