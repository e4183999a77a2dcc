"""Errors a user can act on.

Anything raised as ``BoostLoraError`` is printed by the CLI as one line and exits non-zero, without a traceback:
the message itself must name the problem and, where there is one, the fix.
"""


class BoostLoraError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""


class ConfigError(BoostLoraError):
    """A setting is missing, malformed, unknown, or impossible for this model."""


class DataError(BoostLoraError):
    """The data cannot be used as given (missing fields, empty split, invalid rows)."""


class MergeError(BoostLoraError):
    """A merged model does not reproduce the adapted model it came from."""
