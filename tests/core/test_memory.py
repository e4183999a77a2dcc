"""Peak resident memory per named span: an allocation inside a span is charged to it (and to the spans around it),
not to the spans before or after it."""

from __future__ import annotations

import sys

import pytest
import torch

from boostlora.foundation.memory import PeakMemory, reset_peak

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not reset_peak(), reason="needs Linux's resettable VmHWM")


def test_a_transient_allocation_is_charged_to_its_own_span_and_its_parents():
    peaks = PeakMemory()
    with peaks("quiet"):
        pass
    with peaks("outer"):
        with peaks("transient"):
            block = torch.ones(64 * 1024 * 1024 // 4)  # 64 MiB, touched, then freed
            del block
        with peaks("after"):
            pass
    assert peaks.resettable
    assert peaks.peaks["transient"] - peaks.peaks["quiet"] > 48
    assert peaks.peaks["outer"] >= peaks.peaks["transient"]
    assert peaks.peaks["transient"] - peaks.peaks["after"] > 48  # the reset forgot the transient


def test_a_peak_inside_another_trackers_span_still_counts_for_the_outer_span():
    """A round's phase (one tracker) holds the objective's parts (another tracker, which resets the mark): the
    outer phase's peak must still include what happened inside."""
    phases, parts = PeakMemory(), PeakMemory()
    with phases("train"):
        with parts("loss_backward"):
            block = torch.ones(64 * 1024 * 1024 // 4)
            del block
        with parts("optimizer"):
            pass
    assert phases.peaks["train"] >= parts.peaks["loss_backward"] > parts.peaks["optimizer"] + 48
