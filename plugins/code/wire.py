"""Plain data across the sandbox boundary: builtin values go in, builtin values come out, anything else fails.

Why this exists: the judge compares what the candidate's function returned with the expected value using its
own ``==``. That comparison is only trustworthy when both sides are values the judge built itself. Only text
crosses between the two processes, and ``loads`` builds nothing but ``None``, ``bool``, ``int``, ``float``,
``complex``, ``str``, ``bytes`` and lists, tuples, dicts, sets and frozensets of them, so an object with a
lying ``__eq__``, a subclass of a builtin or a proxy into the candidate's process cannot reach the judge.

Format: JSON (the standard library's C codec, which bounds nesting with ``RecursionError`` and integer size
with ``ValueError``) carries ``None``, booleans, ints, floats and strings as themselves and lists as arrays;
every other type is a two-key object ``{"t": tag, "v": ...}``. A JSON object of any other shape is refused,
so no decoded value depends on how the sender spelt it.

Standard library only and no ``from __future__``: this text is also prepended to the two harnesses that run
as ``python -I -S -c`` (see ``judge.py`` and ``callee.py``).
"""

import json

_SCALARS = (type(None), bool, int, float, str)
_TAGS = ("tuple", "dict", "set", "frozenset", "bytes", "complex")


class WireError(ValueError):
    """A value that is not plain data, or text that does not decode to plain data."""


def to_plain(value):
    """``value`` as JSON-ready data; WireError for anything but builtin values (exact types, no subclasses)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list:
        return [to_plain(v) for v in value]
    if kind is tuple:
        return {"t": "tuple", "v": [to_plain(v) for v in value]}
    if kind is dict:
        return {"t": "dict", "v": [[to_plain(k), to_plain(v)] for k, v in value.items()]}
    if kind is set or kind is frozenset:
        return {"t": kind.__name__, "v": [to_plain(v) for v in value]}
    if kind is bytes:
        return {"t": "bytes", "v": value.hex()}
    if kind is complex:
        return {"t": "complex", "v": [value.real, value.imag]}
    raise WireError("a value of type " + kind.__name__ + " is not plain data")


def _from_pairs(pairs):
    if len(pairs) != 2 or pairs[0][0] != "t" or pairs[1][0] != "v" or pairs[0][1] not in _TAGS:
        raise WireError("a JSON object that is not a tagged value")
    tag, items = pairs[0][1], pairs[1][1]
    if tag == "bytes":
        if type(items) is not str:
            raise WireError("bytes must be hex text")
        return bytes.fromhex(items)
    if type(items) is not list:
        raise WireError(tag + " needs a list")
    if tag == "tuple":
        return tuple(items)
    if tag == "set":
        return set(items)
    if tag == "frozenset":
        return frozenset(items)
    if tag == "complex":
        if len(items) != 2 or any(type(x) not in (int, float) for x in items):
            raise WireError("complex needs two numbers")
        return complex(items[0], items[1])
    result = {}
    for pair in items:
        if type(pair) is not list or len(pair) != 2:
            raise WireError("dict items must be [key, value] pairs")
        result[pair[0]] = pair[1]
    return result


def dumps(value):
    """One line of text for ``value``; WireError when it is not plain data (or too deep, or too big)."""
    try:
        return json.dumps(to_plain(value), separators=(",", ":"))
    except WireError:
        raise
    except (RecursionError, ValueError, TypeError, MemoryError, OverflowError) as exc:
        raise WireError("cannot encode: " + type(exc).__name__) from None


def loads(text):
    """The plain value ``text`` encodes; WireError for anything else, whatever the text is."""
    try:
        return json.loads(text, object_pairs_hook=_from_pairs)
    except WireError:
        raise
    except Exception as exc:  # malformed JSON, too deep, huge ints, unhashable set members, bad hex...
        raise WireError("not plain data: " + type(exc).__name__) from None
