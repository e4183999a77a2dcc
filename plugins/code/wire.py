"""Plain data across the sandbox boundary: builtin values go in, builtin values come out, anything else fails.

Why this exists: the judge compares what the candidate's function returned with the expected value using its
own ``==``. That comparison is only trustworthy when both sides are values the judge built itself. Only text
crosses between the two processes, and ``loads`` builds nothing but ``None``, ``bool``, ``int``, ``float``,
``complex``, ``str``, ``bytes`` and lists, tuples, dicts, sets and frozensets of them (and the few types
below), so an object with a lying ``__eq__``, a subclass of a builtin or a proxy into the candidate's process
cannot reach the judge.

Also crossing, because correct programs return them and tests compare with them: ``bytearray``, ``range``,
``collections.Counter``, ``OrderedDict`` and ``defaultdict``. The receiver rebuilds each as its *own* type
from plain pairs, so the judge still runs only its own ``Counter.__eq__``. A ``defaultdict`` keeps its
``default_factory`` only when that is a builtin type (``int``, ``list``, ``set``, ...), the receiver's own
builtin of that name; any other factory (a lambda, a class of the program) cannot cross and arrives as
``None``, so reading a missing key raises ``KeyError`` on the judge's side.

Format: JSON (the standard library's C codec, which bounds nesting with ``RecursionError``) carries ``None``,
booleans, ints, floats and strings as themselves and lists as arrays; every other type is a two-key object
``{"t": tag, "v": ...}``. A JSON object of any other shape is refused, so no decoded value depends on how
the sender spelt it. An int longer than ``BIG_INT_BITS`` bits (about 4,200 digits) crosses as hexadecimal
text (``{"t": "int", "v": "-0x1f..."}``): JSON spells ints in decimal, and Python refuses decimal
conversions over 4,300 digits (``sys.set_int_max_str_digits``) because they are quadratic; hexadecimal is
linear, and the reply's size cap (``output_bytes``) bounds its length.

The codec is the ``json`` package's own C accelerator (``_json``), called directly with the settings of
``json.dumps(value, separators=(",", ":"))`` and ``json.loads``: the text is the same, but importing ``json``
costs the sandboxed candidate about 13 ms per check (``json.decoder`` imports ``re``, which imports ``enum``),
a fifth of a check. Where ``_json`` is missing or answers differently, the ``json`` package is used.

Standard library only and no ``from __future__``: this text is also prepended to the two harnesses that run
as ``python -I -S -c`` (see ``judge.py`` and ``callee.py``).
"""

from collections import Counter, OrderedDict, defaultdict

_SCALARS = (type(None), bool, int, float, str)
_TAGS = ("tuple", "dict", "set", "frozenset", "bytes", "complex", "bytearray", "int", "range", "counter", "odict",
         "ddict")
BIG_INT_BITS = 14000  # below 4,300 decimal digits: JSON's decimal text works both ways
_FACTORIES = {t.__name__: t for t in (int, float, complex, str, bytes, bool, list, tuple, dict, set, frozenset)}


class WireError(ValueError):
    """A value that is not plain data, or text that does not decode to plain data."""


def _unencodable(value):
    raise TypeError("a value of type " + type(value).__name__ + " is not JSON")


class _Settings:
    """What ``_json.make_scanner`` reads: the attributes of a default ``json.JSONDecoder`` (strict, numbers as
    ``int`` and ``float``, ``NaN``/``Infinity`` as floats) with ``_from_pairs`` for objects."""

    strict = True
    object_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.__getitem__

    def __init__(self, pairs):
        self.object_pairs_hook = pairs


_SPACE = " \t\n\r"  # JSON's whitespace, allowed around the value as ``json.loads`` allows it


def _c_codec():
    """(encode, decode) on ``_json``, checked against the ``json`` package's text for a sample, or None."""
    try:
        import _json

        def encode(plain):
            encoder = _json.make_encoder({}, _unencodable, _json.encode_basestring_ascii, None, ":", ",", False, False, True)
            return "".join(encoder(plain, 0))

        def decode(text, pairs):
            start = len(text) - len(text.lstrip(_SPACE))
            value, end = _json.make_scanner(_Settings(pairs))(text, start)  # StopIteration: no value
            if text[end:].strip(_SPACE):
                raise ValueError("extra data after the value")
            return value

        sample = [None, True, 1, -2.5, "\u00e9\n", {"t": "x", "v": [float("inf")]}]
        text = encode(sample)
        if text != '[null,true,1,-2.5,"\\u00e9\\n",{"t":"x","v":[Infinity]}]' or decode(text, list) != [
                None, True, 1, -2.5, "\u00e9\n", [("t", "x"), ("v", [float("inf")])]]:
            return None
        return encode, decode
    except Exception:  # noqa: BLE001 - whatever goes wrong here, the json package does the work
        return None


_CODEC = _c_codec()
if _CODEC is None:
    import json

    _CODEC = (lambda plain: json.dumps(plain, separators=(",", ":")),
              lambda text, pairs: json.loads(text, object_pairs_hook=pairs))


def to_plain(value):
    """``value`` as JSON-ready data; WireError for anything but builtin values (exact types, no subclasses)."""
    kind = type(value)
    if kind is int and value.bit_length() > BIG_INT_BITS:
        return {"t": "int", "v": hex(value)}
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
    if kind is bytes or kind is bytearray:
        return {"t": kind.__name__, "v": value.hex()}
    if kind is complex:
        return {"t": "complex", "v": [value.real, value.imag]}
    if kind is range:
        return {"t": "range", "v": [value.start, value.stop, value.step]}
    if kind is Counter or kind is OrderedDict:
        return {"t": "counter" if kind is Counter else "odict", "v": [[to_plain(k), to_plain(v)] for k, v in value.items()]}
    if kind is defaultdict:
        factory = value.default_factory
        name = next((n for n, t in _FACTORIES.items() if t is factory), None)  # by identity: no attribute of it is read
        return {"t": "ddict", "v": [name, [[to_plain(k), to_plain(v)] for k, v in value.items()]]}
    raise WireError("a value of type " + kind.__name__ + " is not plain data")


def _from_pairs(pairs):
    if len(pairs) != 2 or pairs[0][0] != "t" or pairs[1][0] != "v" or pairs[0][1] not in _TAGS:
        raise WireError("a JSON object that is not a tagged value")
    tag, items = pairs[0][1], pairs[1][1]
    if tag in ("bytes", "bytearray", "int"):
        if type(items) is not str:
            raise WireError(tag + " must be hex text")
        if tag == "int":
            if not items.lstrip("-").startswith("0x"):
                raise WireError("a big int must be 0x hex text")
            return int(items, 16)
        return bytes.fromhex(items) if tag == "bytes" else bytearray.fromhex(items)
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
    if tag == "range":
        if len(items) != 3 or any(type(x) is not int for x in items):
            raise WireError("range needs three ints")
        return range(items[0], items[1], items[2])
    factory = None
    if tag == "ddict":
        if len(items) != 2 or (items[0] is not None and items[0] not in _FACTORIES):
            raise WireError("defaultdict needs a builtin factory name (or null) and its items")
        factory, items = _FACTORIES.get(items[0]), items[1]
        if type(items) is not list:
            raise WireError("defaultdict items must be a list")
    result = {"dict": dict, "counter": Counter, "odict": OrderedDict}.get(tag, dict)()
    for pair in items:
        if type(pair) is not list or len(pair) != 2:
            raise WireError("dict items must be [key, value] pairs")
        result[pair[0]] = pair[1]
    return defaultdict(factory, result) if tag == "ddict" else result


MUTABLE = (list, dict, set, bytearray, Counter, OrderedDict, defaultdict)  # what a call can change in place


def dumps(value):
    """One line of text for ``value``; WireError when it is not plain data (or too deep, or too big)."""
    try:
        return _CODEC[0](to_plain(value))
    except WireError:
        raise
    except (RecursionError, ValueError, TypeError, MemoryError, OverflowError) as exc:
        raise WireError("cannot encode: " + type(exc).__name__) from None


def loads(text):
    """The plain value ``text`` encodes; WireError for anything else, whatever the text is."""
    try:
        return _CODEC[1](text, _from_pairs)
    except WireError:
        raise
    except Exception as exc:  # malformed JSON, too deep, huge ints, unhashable set members, bad hex...
        raise WireError("not plain data: " + type(exc).__name__) from None
