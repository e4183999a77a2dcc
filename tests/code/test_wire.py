"""Plain data across the sandbox boundary: builtin values survive the trip, nothing else is ever built."""

from __future__ import annotations

import math
from collections import Counter, OrderedDict, defaultdict

import pytest

from boostlora_plugins.code import seccomp
from boostlora_plugins.code.wire import WireError, dumps, loads

VALUES = [None, True, False, 0, -7, 2**200, 1.5, -0.0, "héllo\n\"", "", b"\x00\xff", 3 + 4j, [], (), {}, set(),
          frozenset({1, 2}), [1, (2, 3), {"a": [4]}], {(1, 2): {3}, 4: None, "k": b"v"}, ((),), [[[[]]]],
          bytearray(b"\x00x"), range(2, 11, 3), Counter("abracadabra"), OrderedDict([("z", 1), ("a", 2)]),
          defaultdict(list, {1: [2]}), 10**5000, -(7**9000), [2**14001, {"k": -(2**14001)}]]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: repr(v)[:40] if not isinstance(v, int) or v.bit_length() < 1000 else "big int")
def test_builtin_values_round_trip_with_their_types(value):
    back = loads(dumps(value))
    assert back == value and type(back) is type(value)
    assert "\n" not in dumps(value)


def test_types_nest_exactly():
    back = loads(dumps({"t": (1, [2, (3,)]), "s": {frozenset({(1, 2)})}}))
    assert type(back["t"]) is tuple and type(back["t"][1]) is list and type(back["t"][1][1]) is tuple
    assert back["s"] == {frozenset({(1, 2)})}


def test_nan_and_infinities_cross():
    assert math.isnan(loads(dumps(float("nan")))) and loads(dumps([float("inf"), -float("inf")])) == [math.inf, -math.inf]


class Liar:
    def __eq__(self, other):
        return True


class TrueInt(int):
    def __eq__(self, other):
        return True


class MyCounter(Counter):
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("value", [Liar(), TrueInt(1), [TrueInt(1)], type("S", (str,), {})("x"), {"k": Liar()}, print,
                                   iter([]), MyCounter("a"), (x for x in [])], ids=lambda v: type(v).__name__)
def test_anything_but_builtin_values_is_refused(value):
    with pytest.raises(WireError):
        dumps(value)


def test_self_reference_is_refused():
    loop: list = []
    loop.append(loop)
    with pytest.raises(WireError):
        dumps(loop)


def test_big_ints_cross_as_hex_text_and_small_ones_as_json_numbers():
    assert dumps(10**4000) == str(10**4000)  # 4,001 digits: still a JSON number
    text = dumps(10**5000)  # over Python's 4,300-digit decimal limit: hexadecimal, linear to convert
    assert text.startswith('{"t":"int","v":"0x') and loads(text) == 10**5000
    assert loads('{"t":"int","v":"-0x1f"}') == -31


def test_collections_arrive_as_the_receivers_own_types():
    counts = loads(dumps(Counter("aab")))
    assert type(counts) is Counter and counts["zzz"] == 0 and counts == {"a": 2, "b": 1}
    ordered = loads(dumps(OrderedDict([(3, "c"), (1, "a")])))
    assert type(ordered) is OrderedDict and list(ordered) == [3, 1]
    assert loads(dumps(defaultdict(set)))["new"] == set()  # a builtin factory is the receiver's own builtin
    lost = loads(dumps(defaultdict(lambda: 0, {"a": 1})))  # any other factory cannot cross
    assert lost == {"a": 1} and lost.default_factory is None


@pytest.mark.parametrize("text", [
    "", "{", "[" * 100000 + "]" * 100000, "1" + "0" * 100000, '{"a": 1}', '{"t": "exec", "v": []}',
    '{"t": "tuple", "v": 1}', '{"v": [], "t": "tuple"}', '{"t": "set", "v": [[1]]}', '{"t": "dict", "v": [[[1], 2]]}',
    '{"t": "dict", "v": [1]}', '{"t": "bytes", "v": "zz"}', '{"t": "complex", "v": [1, "2"]}', '{"t": "tuple", "v": [], "x": 1}',
    "\udcff", "None", "nan", '"unterminated', '{"t": "int", "v": 12}', '{"t": "int", "v": "12"}', '{"t": "int", "v": "0xzz"}',
    '{"t": "ddict", "v": ["exec", []]}', '{"t": "ddict", "v": [null, 1]}', '{"t": "range", "v": [1, 2]}',
    '{"t": "range", "v": [1, 2, 0]}', '{"t": "bytearray", "v": 5}', '{"t": "counter", "v": [[[1], 2]]}',
], ids=lambda t: repr(t[:20]))
def test_malformed_text_never_builds_anything(text):
    with pytest.raises(WireError):
        loads(text)


def test_seccomp_filter_is_whole_instructions():
    if not seccomp.supported():
        pytest.skip("no seccomp filter for this machine")
    code = seccomp.program()
    assert len(code) == 14 * 8


def test_the_c_codec_reads_and_writes_what_the_json_package_does():
    """wire.py calls ``_json`` directly (the candidate then imports neither ``json`` nor ``re``): same text out, same
    values in, and whatever ``json.loads`` refuses is refused too."""
    import json

    from boostlora_plugins.code import wire

    assert wire._c_codec() is not None and wire._CODEC[0].__qualname__.startswith("_c_codec")
    encode, decode = wire._CODEC
    values = [None, True, 0, -7, 10**300, 1.5, -0.0, float("inf"), "", "é\n\x00\u2028\ud800", [], [1, [2, [3]]],
              {"t": "tuple", "v": [1, "a"]}, {"a": {"b": None}}]
    for value in values:
        assert encode(value) == json.dumps(value, separators=(",", ":"))
    texts = [encode(v) for v in values] + [" [1, 2] ", "\t{\"a\" : 1}\n", "NaN", "-Infinity", "1e400", "[1,]", "[1] x",
                                            "", " ", "'a'", '"\x01"', "[" * 100_000, "01", "tru", '{"a":1', "1" * 5000]
    for text in texts:
        try:
            expected = ("ok", json.loads(text, object_pairs_hook=list))
        except (ValueError, RecursionError):
            expected = ("refused",)
        try:
            got = ("ok", decode(text, list))
        except (ValueError, RecursionError, StopIteration):
            got = ("refused",)
        assert repr(got) == repr(expected), text[:40]
