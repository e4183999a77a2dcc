"""Peak resident memory per named span: an allocation inside a span is charged to it (and to the spans around it,
of any tracker), not to the spans before or after it.

Each check runs in a fresh interpreter: in a long test process the allocator keeps freed memory resident, so a new
64 MiB block may reuse it without raising the high-water mark at all.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from boostlora.foundation.memory import reset_peak

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not reset_peak(), reason="needs Linux's resettable VmHWM")

SCRIPT = """
import json
import torch
from boostlora.foundation.memory import PeakMemory
phases, parts = PeakMemory(), PeakMemory()
with phases("quiet"):
    pass
with phases("train"):
    with parts("loss_backward"):
        block = torch.ones(64 * 1024 * 1024 // 4)  # 64 MiB, touched, then freed
        del block
    with parts("optimizer"):
        pass
with phases("after"):
    pass
print(json.dumps({"phases": phases.peaks, "parts": parts.peaks, "resettable": phases.resettable}))
"""


@pytest.fixture(scope="module")
def peaks() -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_transient_allocation_is_charged_to_its_own_span_and_not_to_later_ones(peaks):
    phases, parts = peaks["phases"], peaks["parts"]
    assert peaks["resettable"]
    assert parts["loss_backward"] - phases["quiet"] > 48
    assert parts["loss_backward"] - parts["optimizer"] > 48  # the reset forgot the transient
    assert parts["loss_backward"] - phases["after"] > 48


def test_a_peak_inside_another_trackers_span_still_counts_for_the_outer_span(peaks):
    """A round's phase (one tracker) holds the objective's parts (another tracker, which resets the mark): the
    outer phase's peak must still include what happened inside."""
    assert peaks["phases"]["train"] >= peaks["parts"]["loss_backward"]
