"""Small function-writing problems generated from a seed: a code task SmolLM2-135M can partly solve, offline.

Why: a 135M model solves next to nothing of HumanEval or MBPP, so a boosting run on them measures noise
(every reward 0, no gradient). These problems are one-liners to a few lines (``add_7``, ``count_vowels``,
``greater_than_4``) whose wording a small instruct model often, but not always, turns into working code, so
pass@1 sits between the floor and the ceiling and boosting has room to move it. HumanEval and MBPP stay the
real benchmarks.

Each problem is drawn from one family by a ``random.Random`` seeded with the run's generator seed and the
problem's index, the way reasoning-gym's generators work: the same seed gives the same problems on every
machine. A family gives the function's name and description, draws inputs, and computes the expected
outputs with a reference implementation; the prompt shows one example call, which is not a hidden test.

The hidden tests follow EvalPlus: a handful of random calls let classic bugs through (with four of them a count
that returns 0 for short strings passed 95% of its problems, ``second_largest`` as ``xs[-2]`` all of them), so
each family also names edge inputs (empty, single, duplicates, zero, negatives, the boundaries around its
parameter) and draws type-aware random inputs from the problem's seed; every expected value comes from the
reference. ``benchmarks/code_mutants.py`` measures how many buggy variants of the references still pass.
Tests are MBPP's ``assert f(x) == y``, judged in the trusted process. The reference solution is shipped too.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .data import Problem

GENERATED = "generated"
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_WORDS = ("apple", "banana", "level", "python", "radar", "code", "noon", "stats", "hello", "world", "kayak", "data",
          "tree", "moon", "refer", "civic", "table", "chair", "bottle", "madam")


@dataclass(frozen=True)
class Spec:
    """One drawn problem: the function's name, parameters, description, reference body, the draw of the
    prompt's example (and of the legacy four tests), and the family's parameter (``k`` or a letter, or None)."""

    name: str
    params: str
    text: str
    body: str
    draw: Callable[[random.Random], tuple]
    param: Any = None


@dataclass(frozen=True)
class Family:
    """One kind of problem: ``make(rng)`` draws a ``Spec``; ``edges(param)`` are the inputs every problem of the
    family is tested on (empty, single, duplicates, zero, negatives, boundaries around the parameter) and
    ``fuzz(rng, param)`` draws one type-aware random input from the problem's own seed."""

    key: str
    make: Callable[[random.Random], Spec]
    edges: Callable[[Any], list[tuple]]
    fuzz: Callable[[random.Random, Any], tuple]


def _ints(rng: random.Random, n: int = 5, lo: int = -20, hi: int = 20) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(n)]


def _word(rng: random.Random) -> str:
    return rng.choice(_WORDS) if rng.random() < 0.6 else "".join(rng.choice(_LETTERS) for _ in range(rng.randint(3, 8)))


def _const(op: str, verb: str) -> Callable:
    def make(rng):
        k = rng.randint(2, 9)
        return Spec(f"{op}_{k}", "x", f"returns x {verb} {k}", f"    return x {'+' if op == 'add' else '*'} {k}",
                    lambda r: (r.randint(-50, 50),), k)
    return make


def _divisible(rng):
    k = rng.randint(2, 9)
    return Spec(f"is_divisible_by_{k}", "n", f"returns True if n is divisible by {k}, and False otherwise",
                f"    return n % {k} == 0", lambda r: (r.randint(0, 12) * k if r.random() < 0.5 else r.randint(1, 100),), k)


def _count_letter(rng):
    c = rng.choice("aeiost")
    return Spec(f"count_{c}", "s", f"returns how many times the letter '{c}' appears in the string s",
                f"    return s.count('{c}')", lambda r: (_word(r) + rng.choice(["", c, c + c]),), c)


def _greater(rng):
    k = rng.randint(0, 9)
    return Spec(f"greater_than_{k}", "xs", f"returns a list of the numbers in the list xs that are greater than {k}, "
                "in their original order", f"    return [x for x in xs if x > {k}]",
                lambda r: (_ints(r, r.randint(3, 7)),), k)


def _remove_letter(rng):
    c = rng.choice("aeiou")
    return Spec(f"remove_{c}", "s", f"returns the string s with every letter '{c}' removed",
                f"    return s.replace('{c}', '')", lambda r: (_word(r),), c)


def _fixed(name: str, params: str, text: str, body: str, draw: Callable) -> Callable:
    return lambda rng: Spec(name, params, text, body, draw)


# -- strong tests: edge inputs and type-aware random inputs ---------------------------------------------------

def _list(r: random.Random, lo: int = -30, hi: int = 30, min_len: int = 0, max_len: int = 9) -> list[int]:
    """A random list: sometimes drawn from a small pool (duplicates), sometimes with zeros mixed in."""
    n = r.randint(min_len, max_len)
    if r.random() < 0.35:
        pool = [r.randint(lo, hi) for _ in range(max(1, n // 2))]
        return [r.choice(pool) for _ in range(n)]
    return [r.randint(lo, hi) if r.random() > 0.15 else 0 for _ in range(n)]


def _text(r: random.Random, letters: str, max_len: int = 10) -> str:
    return "".join(r.choice(letters) for _ in range(r.randint(0, max_len)))


def _letter_edges(c: str) -> list[tuple]:
    return [("",), (c,), (c * 2,), (c * 3,), ("b" + c,), (c + "b",), ("b" + c + "b" + c + "b",), (c + "rr" + c,),
            ("bdr",), ("xyz",), ("st" + c + "r" + c + "ng" + c,)]


def _letter_fuzz(r: random.Random, c: str) -> tuple:
    return (_text(r, c * 3 + "bdlmnprstxyaeiou", 12),)


def _around(k: int) -> list[tuple]:
    return [([],), ([k],), ([k + 1],), ([k, k + 1, k - 1],), ([k + 5, k + 1, k + 3],), ([k + 2, k + 2, k, k + 2],),
            ([-k - 5, k + 1, -k - 9],), ([-20, -1, 0],), ([k - 1, k, k + 1, k, k + 2],), ([k + 9, k - 9],)]


def _second_fuzz(r: random.Random, _p: Any) -> tuple:
    xs = _list(r, -30, 30, 0, 6) + [r.randint(-30, 30), r.randint(-30, 30)]
    while len(set(xs)) < 2:
        xs.append(r.randint(-30, 30))
    r.shuffle(xs)
    return (xs,)


_NUMBER_EDGES = [(0,), (1,), (-1,), (2,), (-7,), (100,), (-100,), (12345,)]
_SUM_EDGES = [([],), ([0],), ([5],), ([-3],), ([1, 2, 3],), ([-1, -2, -3],), ([4, -4],), ([10, -3, 7, 2],), ([2, 2, 2],)]
_MAX_EDGES = [([0],), ([-5],), ([7],), ([3, 3],), ([-3, -1, -7],), ([9, 1, 2],), ([1, 2, 9],), ([1, 9, 2],),
              ([-10, 0, -1],), ([5, 5, 1, 5],)]
_LIST = lambda r, _p: (_list(r),)
_SMALL = lambda r, _p: (_list(r, -9, 9, 0, 6),)

FAMILIES: tuple[Family, ...] = (
    Family("add", _const("add", "plus"), lambda k: _NUMBER_EDGES + [(k,), (-k,)], lambda r, k: (r.randint(-1000, 1000),)),
    Family("times", _const("times", "multiplied by"), lambda k: _NUMBER_EDGES + [(k,), (-k,)],
           lambda r, k: (r.randint(-1000, 1000),)),
    Family("divisible", _divisible,
           lambda k: [(0,), (k,), (1,), (k - 1,), (k + 1,), (2 * k,), (k * k,), (-k,), (-1,), (1000 * k,), (1000 * k + 1,),
                      (7 * k + k // 2 + 1,)],
           lambda r, k: (r.randint(-60, 60) * k if r.random() < 0.5 else r.randint(-500, 500),)),
    Family("count_letter", _count_letter, _letter_edges, _letter_fuzz),
    Family("greater_than", _greater, _around, lambda r, k: (_list(r, k - 8, k + 8) if r.random() < 0.7 else _list(r),)),
    Family("remove_letter", _remove_letter, _letter_edges, _letter_fuzz),
    Family("sum", _fixed("list_sum", "xs", "returns the sum of the numbers in the list xs", "    return sum(xs)",
                         lambda r: (_ints(r, r.randint(0, 6)),)), lambda _p: _SUM_EDGES, _LIST),
    Family("max", _fixed("list_max", "xs", "returns the largest number in the list xs", "    return max(xs)",
                         lambda r: (_ints(r, r.randint(1, 6)),)), lambda _p: _MAX_EDGES,
           lambda r, _p: (_list(r, -30, 30, 1, 9) if r.random() < 0.7 else _list(r, -60, -1, 1, 6),)),
    Family("vowels", _fixed("count_vowels", "s", "returns the number of vowels (a, e, i, o, u) in the string s",
                            "    return sum(1 for ch in s if ch in 'aeiou')", lambda r: (_word(r),)),
           lambda _p: [("",), ("a",), ("bcd",), ("aeiou",), ("rhythm",), ("yay",), ("queue",), ("banana",), ("sky",),
                       ("eerie",), ("strength",), ("ooo",)],
           lambda r, _p: (_text(r, "aeiouybcdlmnrst", 12),)),
    Family("double", _fixed("double_each", "xs", "returns a new list with every number of the list xs doubled",
                            "    return [2 * x for x in xs]", lambda r: (_ints(r, r.randint(0, 6)),)),
           lambda _p: [([],), ([0],), ([2],), ([-3],), ([1, 2, 3],), ([5, -5, 0],), ([2, 2],), ([7, 1, 4],)], _LIST),
    Family("positives", _fixed("count_positive", "xs", "returns how many numbers in the list xs are greater than 0",
                               "    return sum(1 for x in xs if x > 0)", lambda r: (_ints(r, r.randint(0, 7)),)),
           lambda _p: [([],), ([0],), ([0, 0, 0],), ([1],), ([-1],), ([-1, 0, 1],), ([3, 3, 3],), ([5, -2, 0, 7, -9],),
                       ([100],), ([2, 1],), ([0, 4, 0],)], _LIST),
    Family("squares", _fixed("sum_of_squares", "n", "returns 1*1 + 2*2 + ... + n*n for a whole number n >= 0",
                             "    return sum(i * i for i in range(1, n + 1))", lambda r: (r.randint(0, 12),)),
           lambda _p: [(0,), (1,), (2,), (3,), (5,), (10,), (20,), (50,)], lambda r, _p: (r.randint(0, 100),)),
    Family("factorial", _fixed("factorial", "n", "returns n factorial (1 * 2 * ... * n, and 1 for n = 0)",
                               "    result = 1\n    for i in range(2, n + 1):\n        result *= i\n    return result",
                               lambda r: (r.randint(0, 10),)),
           lambda _p: [(0,), (1,), (2,), (3,), (5,), (10,), (12,), (15,)], lambda r, _p: (r.randint(0, 20),)),
    Family("sum_even", _fixed("sum_of_evens", "xs", "returns the sum of the even numbers in the list xs",
                              "    return sum(x for x in xs if x % 2 == 0)", lambda r: (_ints(r, r.randint(0, 7)),)),
           lambda _p: [([],), ([1],), ([2],), ([0],), ([-2],), ([-4, -3, 2, 1],), ([1, 3, 5],), ([2, 4, 6],),
                       ([2, 2, 3],), ([-1, -3, 8],), ([3, 4, 5, 6],)], _LIST),
    Family("product", _fixed("list_product", "xs", "returns the product of the numbers in the list xs (1 for an "
                             "empty list)", "    result = 1\n    for x in xs:\n        result *= x\n    return result",
                             lambda r: (_ints(r, r.randint(0, 5), -9, 9),)),
           lambda _p: [([],), ([0],), ([5],), ([-3],), ([2, 3],), ([-2, -3],), ([-2, 3],), ([1, 0, 5],), ([2, 2, 2, 2],),
                       ([-1, -1, -1],), ([7, 1],)], _SMALL),
    Family("digit_sum", _fixed("digit_sum", "n", "returns the sum of the decimal digits of the whole number n >= 0",
                               "    return sum(int(d) for d in str(n))", lambda r: (r.randint(0, 99999),)),
           lambda _p: [(0,), (5,), (9,), (10,), (19,), (99,), (100,), (909,), (12345,), (99999,), (1000000,),
                       (987654321,)], lambda r, _p: (r.randint(0, 10 ** r.randint(1, 9)),)),
    Family("fizzbuzz", _fixed("fizzbuzz", "n", "returns 'FizzBuzz' if n is divisible by 15, 'Fizz' if it is divisible "
                              "by 3, 'Buzz' if it is divisible by 5, and otherwise n as a string",
                              "    if n % 15 == 0:\n        return 'FizzBuzz'\n    if n % 3 == 0:\n        return 'Fizz'\n"
                              "    if n % 5 == 0:\n        return 'Buzz'\n    return str(n)", lambda r: (r.randint(1, 60),)),
           lambda _p: [(1,), (2,), (3,), (5,), (6,), (7,), (9,), (10,), (15,), (25,), (30,), (33,), (45,), (60,), (90,)],
           lambda r, _p: (r.randint(1, 300),)),
    Family("dedupe", _fixed("remove_duplicates", "xs", "returns the list xs without repeated numbers, keeping the "
                            "first occurrence of each in its original order",
                            "    seen = []\n    for x in xs:\n        if x not in seen:\n            seen.append(x)\n"
                            "    return seen", lambda r: (_ints(r, r.randint(2, 8), 0, 5),)),
           lambda _p: [([],), ([1],), ([1, 1],), ([1, 2, 1],), ([3, 1, 3, 2, 1],), ([2, 1],), ([5, 4, 3, 2, 1],),
                       ([0, 0, 0],), ([-1, 2, -1],), ([1, 2, 2, 3, 3, 3],), ([3, 2, 3, 1, 2],), ([1, 2, 1, 2],)],
           lambda r, _p: (_list(r, 0, 6, 0, 10) if r.random() < 0.6 else _list(r, -20, 20, 0, 10),)),
    Family("prime", _fixed("is_prime", "n", "returns True if the whole number n is a prime number, and False otherwise",
                           "    if n < 2:\n        return False\n    return all(n % d for d in range(2, int(n ** 0.5) + 1))",
                           lambda r: (r.randint(0, 60),)),
           lambda _p: [(0,), (1,), (2,), (3,), (4,), (9,), (15,), (17,), (25,), (49,), (91,), (97,), (121,), (169,),
                       (7919,)], lambda r, _p: (r.randint(0, 400),)),
    Family("second", _fixed("second_largest", "xs", "returns the second largest distinct number in the list xs "
                            "(which has at least two distinct numbers)", "    return sorted(set(xs))[-2]",
                            lambda r: (_ints(r, r.randint(1, 5)) + [r.randint(21, 40), r.randint(41, 60)],)),
           lambda _p: [([1, 2],), ([2, 1],), ([5, 5, 3],), ([3, 5, 5],), ([-1, -2],), ([7, 7, 7, 2],), ([10, 9, 8, 10],),
                       ([4, 1, 3, 2],), ([0, -5, 0],), ([1, 3, 2, 3],), ([9, 2, 8, 1],)], _second_fuzz),
    Family("running", _fixed("running_total", "xs", "returns the list of running totals of xs: element i is the sum "
                             "of xs[0] to xs[i]", "    total, out = 0, []\n    for x in xs:\n        total += x\n"
                             "        out.append(total)\n    return out", lambda r: (_ints(r, r.randint(0, 6), -9, 9),)),
           lambda _p: [([],), ([0],), ([5],), ([-3],), ([1, 2, 3],), ([1, -1, 1, -1],), ([0, 0, 0],), ([10, -20, 5],),
                       ([4, 4],)], _SMALL),
)
TESTS_PER_PROBLEM = 4  # the legacy test set (``tests="four"``): four random calls
FUZZ_PER_PROBLEM = 10  # random inputs added to the edge cases in the strong test set
TEST_SETS = ("strong", "four")


def _call(name: str, args: tuple) -> str:
    return f"{name}({', '.join(repr(a) for a in args)})"


def _hidden_inputs(family: Family, spec: Spec, legacy: list[tuple], example: tuple, index: int, seed: int,
                   stream: str = "") -> list[tuple]:
    """Edge inputs, the legacy four and ``FUZZ_PER_PROBLEM`` distinct random inputs, never the prompt's example.

    The random inputs come from their own ``random.Random`` (seeded by the problem's seed and index), so the
    problem's name, prompt and legacy tests stay what they were."""
    tag = f"{stream}-" if stream else ""
    rng = random.Random(f"boostlora-code-strong-{tag}{seed}-{index}")
    inputs: list[tuple] = []

    def add(args: tuple) -> bool:
        if args == example or args in inputs:
            return False
        inputs.append(args)
        return True

    for args in [*family.edges(spec.param), *legacy]:
        add(args)
    fuzzed = 0
    for _ in range(50 * FUZZ_PER_PROBLEM):
        if fuzzed == FUZZ_PER_PROBLEM:
            break
        fuzzed += add(family.fuzz(rng, spec.param))
    return inputs


def make_problem(index: int, seed: int, tests: str = "strong", stream: str = "") -> Problem:
    """Problem ``index`` of the set generated from ``seed`` (the same on every machine and Python version).

    ``stream`` names a seed stream of its own (``"validation"``): other problems from the same families, drawn
    without touching the default stream, so adding a validation split leaves every train and held-out problem as
    it was.

    ``tests="strong"`` (the default): the family's edge inputs plus random inputs drawn from the problem's seed,
    about twenty to thirty hidden tests, so that plausible wrong programs fail; ``tests="four"``: the four random
    calls of earlier versions (kept to reproduce old numbers; classic bugs pass them)."""
    if tests not in TEST_SETS:
        raise ValueError(f"generated tests must be one of {', '.join(TEST_SETS)}, got {tests!r}")
    tag = f"{stream}-" if stream else ""
    rng = random.Random(f"boostlora-code-{tag}{seed}-{index}")
    family = FAMILIES[rng.randrange(len(FAMILIES))]
    spec = family.make(rng)
    name, params = spec.name, spec.params
    namespace: dict[str, Any] = {}
    reference = f"def {name}({params}):\n{spec.body}\n"
    exec(compile(reference, "<reference>", "exec"), namespace)  # our own reference code, for expected values
    function = namespace[name]
    calls: list[tuple] = []
    for _ in range(40):  # distinct inputs, so four tests are four checks
        args = spec.draw(rng)
        if args not in calls:
            calls.append(args)
        if len(calls) == TESTS_PER_PROBLEM + 1:
            break
    example, hidden = calls[0], calls[1:]
    if tests == "strong":
        hidden = _hidden_inputs(family, spec, hidden, example, index, seed, stream)
    prompt = (f"Write a Python function `{name}({params})` that {spec.text}.\n"
              f"For example, `{_call(name, example)}` returns `{function(*example)!r}`.")
    units = tuple(f"assert {_call(name, args)} == {function(*args)!r}" for args in hidden)
    source = f"generated-{stream}" if stream else "generated"
    return Problem(task_id=f"{source}/{seed}/{index}/{family.key}", prompt=prompt, entry_point=name, units=units,
                   reference=reference)


def generate_problems(count: int, seed: int = 0, tests: str = "strong", stream: str = "",
                      exclude: Iterable[str] = ()) -> list[Problem]:
    """``count`` problems from ``seed`` (in ``stream``), no two with the same prompt and none whose prompt is in
    ``exclude``.

    Some families have few distinct prompts (``factorial`` with an example from 0 to 10), so indices whose
    prompt already appeared are skipped: otherwise one problem could land on both sides of the split."""
    problems: list[Problem] = []
    prompts: set[str] = set(exclude)
    for index in range(50 * count):
        if len(problems) == count:
            break
        problem = make_problem(index, seed, tests, stream)
        if problem.prompt not in prompts:
            prompts.add(problem.prompt)
            problems.append(problem)
    return problems
