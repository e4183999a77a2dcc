"""Errors a user can act on, and the exit status each one ends the command line with.

Anything raised as ``BoostLoraError`` is printed by the CLI as one line and exits non-zero, without a traceback:
the message itself must name the file or setting and the problem and, where there is one, the fix. Each class
carries its exit status so that scripts and schedulers can tell a bad setting (fix the command) from a full disk
or a damaged run directory (fix the machine or the files) from an interruption (resume). Anything that is not a
``BoostLoraError`` is a bug in boostlora or a plugin and keeps its traceback, so that it gets reported.
"""

from __future__ import annotations

import signal
from typing import ClassVar

#: Usage and configuration errors: a setting, a flag or the input data (sysexits' EX_USAGE is 64; 2 is what
#: argparse and most command lines use for a bad command).
EXIT_USAGE = 2
#: A file or directory cannot be read or written (full disk, no permission, read-only file system), or a file of
#: a run directory is corrupt, truncated, or belongs to another run (sysexits' EX_IOERR).
EXIT_IO = 74
#: The run directory is in use by another live run (sysexits' EX_TEMPFAIL: try again when it has finished).
EXIT_BUSY = 75
#: Interrupted (Ctrl-C, SIGINT): 128 + SIGINT, what a shell reports for a command killed by Ctrl-C.
EXIT_INTERRUPTED = 130
#: Interrupted by SIGHUP (the terminal closed): 128 + SIGHUP.
EXIT_HANGUP = 129
#: Interrupted by SIGTERM (``kill``, a scheduler's time limit, a container stopping): 128 + SIGTERM.
EXIT_TERMINATED = 143
#: The signals a run stops on as it stops on Ctrl-C, with the exit status each ends the command line with.
STOP_SIGNALS = {signal.SIGHUP: EXIT_HANGUP, signal.SIGTERM: EXIT_TERMINATED}


class BoostLoraError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""

    exit_code: ClassVar[int] = EXIT_USAGE


class ConfigError(BoostLoraError):
    """A setting is missing, malformed, unknown, or impossible for this model."""


class CapacityError(ConfigError):
    """More rounds than a target module has singular directions for; ``most`` is the largest ``max_rounds`` that fits."""

    def __init__(self, message: str, most: int) -> None:
        super().__init__(message)
        self.most = most

    def __reduce__(self):  # picklable with its extra field: errors cross processes in multi-process runs
        return (type(self), (str(self), self.most))


class DataError(BoostLoraError):
    """The data cannot be used as given (missing fields, empty split, invalid rows, too few examples or classes)."""


class MergeError(BoostLoraError):
    """A merged model does not reproduce the adapted model it came from."""


class RunDirError(BoostLoraError):
    """A run-directory file cannot be read or written, or cannot be trusted (corrupt, truncated, foreign)."""

    exit_code: ClassVar[int] = EXIT_IO


class RunDirBusy(RunDirError):
    """Another live process holds the run directory's lock."""

    exit_code: ClassVar[int] = EXIT_BUSY


class Interrupted(BoostLoraError):
    """The run was interrupted (Ctrl-C, SIGTERM, SIGHUP); the message says whether and how it can be resumed."""

    exit_code: int = EXIT_INTERRUPTED

    def __init__(self, message: str, exit_code: int = EXIT_INTERRUPTED) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def __reduce__(self):
        return (type(self), (str(self), self.exit_code))


class StopSignal(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the signal arrives so that everything that cleans up after Ctrl-C (a
    ``KeyboardInterrupt``) cleans up after it too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def interruption(exc: KeyboardInterrupt) -> tuple[str | None, int]:
    """The signal's name (None for Ctrl-C) and the exit status of an interruption."""
    if isinstance(exc, StopSignal):
        return exc.name, STOP_SIGNALS.get(exc.signum, 128 + exc.signum)
    return None, EXIT_INTERRUPTED
