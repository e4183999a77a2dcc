"""What a user watching ``boostlora run`` sees before and between rounds: a first line, then a bar over the rounds.

Loading a model and evaluating the base model can take minutes with nothing else on screen, so a run says what
it is loading within seconds of starting. During the rounds one bar counts them (``round 2/4``) with an ETA
from the rounds finished so far; the phase bars (generation, training) take tqdm's next free line, beneath it
(position 1), and vanish when done (the GRPO bar explains its ``zero_std`` field once, in ``objectives.grpo``).

On a terminal (stderr is one) the first line and the bar go to stderr. When stderr is not a terminal (a log file,
CI, a script reading errors), a bar's carriage returns would make an unreadable log, and a status line on stderr
would break the promise that a bad input is one line there; so the first line and one plain line per finished
round go to stdout instead, beside the run's table. Nothing is shown with ``show_progress: false`` or on a rank
other than 0.

tqdm is used rather than a hand-written bar: it already does the ETA, the nesting by ``position`` and the
redrawing; only the non-terminal form is ours.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from boostlora.foundation import distributed
from boostlora.foundation.config import RunConfig


def enabled(config: RunConfig) -> bool:
    return bool(config.show_progress) and distributed.is_main()


def terminal(stream: Any) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def default_stream() -> IO[str]:
    """stderr on a terminal, else stdout (see the module's docstring)."""
    return sys.stderr if terminal(sys.stderr) else sys.stdout


def first_line(config: RunConfig, model: str | None, device: Any, *, resume: bool, stream: IO[str] | None = None) -> None:
    """``boostlora: starting math: loading the data and the model smollm2-135m-instruct on cpu ...``, at once."""
    if not enabled(config):
        return
    stream = stream or default_stream()
    what = f"{config.plugin}/{config.task}" if config.task else config.plugin
    verb = "resuming" if resume else "starting"
    print(f"boostlora: {verb} {what}: loading the data and the model {model or '(the task default)'} on "
          f"{device}, then evaluating the base model (the first load of a model can take a minute)",
          file=stream, flush=True)


class RoundProgress:
    """The rounds bar: ``with RoundProgress(config, done) as bar: bar.start(k) ... bar.finished(k + 1)``."""

    def __init__(self, config: RunConfig, rounds_done: int, stream: IO[str] | None = None) -> None:
        self.total = config.max_rounds
        self.done = rounds_done
        self.stream = stream or default_stream()
        self.on = enabled(config)
        self.terminal = terminal(self.stream)
        self.started = time.perf_counter()
        self.finished_here = 0  # rounds finished in this process: the ETA reads these, not a resumed run's earlier ones
        self.bar: Any = None

    def __enter__(self) -> RoundProgress:
        if self.on and self.terminal:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, initial=self.done, desc=self.label(self.done), unit="round",
                            position=0, leave=True, file=self.stream, dynamic_ncols=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()

    def label(self, index: int) -> str:
        return f"round {min(index + 1, self.total)}/{self.total}"

    def start(self, index: int) -> None:
        """Round ``index`` (0-based) begins."""
        if self.bar is not None:
            self.bar.set_description_str(self.label(index))

    def finished(self, rounds_done: int) -> None:
        """The run has ``rounds_done`` rounds now (unchanged when a round was not kept)."""
        if not self.on or rounds_done <= self.done:
            return
        step, self.done = rounds_done - self.done, rounds_done
        self.finished_here += step
        if self.bar is not None:
            self.bar.update(step)
            return
        elapsed = time.perf_counter() - self.started
        left = max(self.total - self.done, 0)
        eta = f", about {format_seconds(elapsed / self.finished_here * left)} left for {left} more" if left else ""
        print(f"boostlora: round {self.done}/{self.total} done ({format_seconds(elapsed)} so far{eta})",
              file=self.stream, flush=True)


def format_seconds(seconds: float) -> str:
    """``42 s``, ``3 min 5 s``, ``1 h 12 min``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
