"""Peak resident memory of named spans of a run (a round's phases, a GRPO step's parts).

The process's lifetime peak (``ru_maxrss``) cannot say which phase allocated most. Linux keeps a resettable
high-water mark: writing ``5`` to ``/proc/self/clear_refs`` resets ``VmHWM`` in ``/proc/self/status`` to the
current resident size, so a span resets it when it opens and reads it when it closes. Spans may nest: before a
reset, the peak so far is credited to every span already open, so an outer span's peak includes its inner ones.
Where the reset is unavailable (other systems, a locked-down ``/proc``), peaks are lifetime peaks and say so
through ``resettable``. The reset also lowers what the kernel reports as the process's peak (``ru_maxrss``, which
``/usr/bin/time -v`` prints): read a run's peaks from ``report.json`` (``peak_rss_mb_by_phase``) instead.
"""

from __future__ import annotations

import resource
from collections.abc import Iterator
from contextlib import contextmanager

MIB = 1024 * 1024


def reset_peak() -> bool:
    """Reset the process's resident high-water mark to its current resident size; False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    """The process's resident high-water mark since the last reset (``VmHWM``), or its lifetime peak."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


#: Spans open anywhere in the process, of every tracker: a reset must first credit the peak so far to all of them
#: (a round's phase and the objective's own parts are two trackers, one inside the other).
_OPEN: list[tuple[PeakMemory, str]] = []


def _credit_open_spans() -> None:
    peak = round(peak_rss_bytes() / MIB, 1)
    for tracker, name in _OPEN:
        tracker.peaks[name] = max(tracker.peaks.get(name, 0.0), peak)


class PeakMemory:
    """Peak resident memory, in MiB, of each named span (``with peaks("train"): ...``), the maximum over its uses.

    Spans of every tracker in the process nest correctly: an outer span's peak includes everything inside it.
    """

    def __init__(self) -> None:
        self.peaks: dict[str, float] = {}
        self.resettable = True

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        _credit_open_spans()
        self.resettable = reset_peak() and self.resettable
        entry = (self, name)
        _OPEN.append(entry)
        try:
            yield
        finally:
            _credit_open_spans()
            _OPEN.remove(entry)
