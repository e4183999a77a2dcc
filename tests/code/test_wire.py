"""Plain data across the sandbox boundary: builtin values survive the trip, nothing else is ever built."""

from __future__ import annotations

import math

import pytest

from boostlora_plugins.code import seccomp
from boostlora_plugins.code.wire import WireError, dumps, loads

VALUES = [None, True, False, 0, -7, 2**200, 1.5, -0.0, "héllo\n\"", "", b"\x00\xff", 3 + 4j, [], (), {}, set(),
          frozenset({1, 2}), [1, (2, 3), {"a": [4]}], {(1, 2): {3}, 4: None, "k": b"v"}, ((),), [[[[]]]]]


@pytest.mark.parametrize("value", VALUES, ids=repr)
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


@pytest.mark.parametrize("value", [Liar(), TrueInt(1), [TrueInt(1)], type("S", (str,), {})("x"), {"k": Liar()}, print,
                                   range(3), bytearray(b"x"), iter([])], ids=lambda v: type(v).__name__)
def test_anything_but_builtin_values_is_refused(value):
    with pytest.raises(WireError):
        dumps(value)


def test_self_reference_and_huge_ints_are_refused():
    loop: list = []
    loop.append(loop)
    with pytest.raises(WireError):
        dumps(loop)
    with pytest.raises(WireError):
        dumps(10 ** 5000)


@pytest.mark.parametrize("text", [
    "", "{", "[" * 100000 + "]" * 100000, "1" + "0" * 100000, '{"a": 1}', '{"t": "exec", "v": []}',
    '{"t": "tuple", "v": 1}', '{"v": [], "t": "tuple"}', '{"t": "set", "v": [[1]]}', '{"t": "dict", "v": [[[1], 2]]}',
    '{"t": "dict", "v": [1]}', '{"t": "bytes", "v": "zz"}', '{"t": "complex", "v": [1, "2"]}', '{"t": "tuple", "v": [], "x": 1}',
    "\udcff", "None", "nan", '"unterminated',
], ids=lambda t: repr(t[:20]))
def test_malformed_text_never_builds_anything(text):
    with pytest.raises(WireError):
        loads(text)


def test_seccomp_filter_is_whole_instructions():
    if not seccomp.supported():
        pytest.skip("no seccomp filter for this machine")
    code = seccomp.program()
    assert len(code) == 14 * 8
