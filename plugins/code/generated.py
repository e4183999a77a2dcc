"""Small function-writing problems generated from a seed: a code task SmolLM2-135M can partly solve, offline.

Why: a 135M model solves next to nothing of HumanEval or MBPP, so a boosting run on them measures noise
(every reward 0, no gradient). These problems are one-liners to a few lines (``add_7``, ``count_vowels``,
``greater_than_4``) whose wording a small instruct model often, but not always, turns into working code, so
pass@1 sits between the floor and the ceiling and boosting has room to move it. HumanEval and MBPP stay the
real benchmarks.

Each problem is drawn from one family by a ``random.Random`` seeded with the run's generator seed and the
problem's index, the way reasoning-gym's generators work: the same seed gives the same problems on every
machine. A family gives the function's name and description, draws inputs, and computes the expected
outputs with a reference implementation; the prompt shows one example call, and the tests are four other
calls (MBPP's ``assert f(x) == y``, judged in the trusted process). The reference solution is shipped too.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .data import Problem

GENERATED = "generated"
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_WORDS = ("apple", "banana", "level", "python", "radar", "code", "noon", "stats", "hello", "world", "kayak", "data",
          "tree", "moon", "refer", "civic", "table", "chair", "bottle", "madam")


@dataclass(frozen=True)
class Family:
    """One kind of problem: ``make(rng)`` gives (name, parameters, description, reference code, draw inputs)."""

    key: str
    make: Callable[[random.Random], tuple[str, str, str, str, Callable[[random.Random], tuple]]]


def _ints(rng: random.Random, n: int = 5, lo: int = -20, hi: int = 20) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(n)]


def _word(rng: random.Random) -> str:
    return rng.choice(_WORDS) if rng.random() < 0.6 else "".join(rng.choice(_LETTERS) for _ in range(rng.randint(3, 8)))


def _const(op: str, verb: str) -> Callable:
    def make(rng):
        k = rng.randint(2, 9)
        return (f"{op}_{k}", "x", f"returns x {verb} {k}", f"    return x {'+' if op == 'add' else '*'} {k}",
                lambda r: (r.randint(-50, 50),))
    return make


def _divisible(rng):
    k = rng.randint(2, 9)
    return (f"is_divisible_by_{k}", "n", f"returns True if n is divisible by {k}, and False otherwise",
            f"    return n % {k} == 0", lambda r: (r.randint(0, 12) * k if r.random() < 0.5 else r.randint(1, 100),))


def _count_letter(rng):
    c = rng.choice("aeiost")
    return (f"count_{c}", "s", f"returns how many times the letter '{c}' appears in the string s",
            f"    return s.count('{c}')", lambda r: (_word(r) + rng.choice(["", c, c + c]),))


def _greater(rng):
    k = rng.randint(0, 9)
    return (f"greater_than_{k}", "xs", f"returns a list of the numbers in the list xs that are greater than {k}, "
            "in their original order", f"    return [x for x in xs if x > {k}]", lambda r: (_ints(r, r.randint(3, 7)),))


def _remove_letter(rng):
    c = rng.choice("aeiou")
    return (f"remove_{c}", "s", f"returns the string s with every letter '{c}' removed",
            f"    return s.replace('{c}', '')", lambda r: (_word(r),))


def _fixed(name: str, params: str, text: str, body: str, draw: Callable) -> Callable:
    return lambda rng: (name, params, text, body, draw)


FAMILIES: tuple[Family, ...] = (
    Family("add", _const("add", "plus")),
    Family("times", _const("times", "multiplied by")),
    Family("divisible", _divisible),
    Family("count_letter", _count_letter),
    Family("greater_than", _greater),
    Family("remove_letter", _remove_letter),
    Family("sum", _fixed("list_sum", "xs", "returns the sum of the numbers in the list xs", "    return sum(xs)",
                         lambda r: (_ints(r, r.randint(0, 6)),))),
    Family("max", _fixed("list_max", "xs", "returns the largest number in the list xs", "    return max(xs)",
                         lambda r: (_ints(r, r.randint(1, 6)),))),
    Family("vowels", _fixed("count_vowels", "s", "returns the number of vowels (a, e, i, o, u) in the string s",
                            "    return sum(1 for ch in s if ch in 'aeiou')", lambda r: (_word(r),))),
    Family("double", _fixed("double_each", "xs", "returns a new list with every number of the list xs doubled",
                            "    return [2 * x for x in xs]", lambda r: (_ints(r, r.randint(0, 6)),))),
    Family("positives", _fixed("count_positive", "xs", "returns how many numbers in the list xs are greater than 0",
                               "    return sum(1 for x in xs if x > 0)", lambda r: (_ints(r, r.randint(0, 7)),))),
    Family("squares", _fixed("sum_of_squares", "n", "returns 1*1 + 2*2 + ... + n*n for a whole number n >= 0",
                             "    return sum(i * i for i in range(1, n + 1))", lambda r: (r.randint(0, 12),))),
    Family("factorial", _fixed("factorial", "n", "returns n factorial (1 * 2 * ... * n, and 1 for n = 0)",
                               "    result = 1\n    for i in range(2, n + 1):\n        result *= i\n    return result",
                               lambda r: (r.randint(0, 10),))),
    Family("sum_even", _fixed("sum_of_evens", "xs", "returns the sum of the even numbers in the list xs",
                              "    return sum(x for x in xs if x % 2 == 0)", lambda r: (_ints(r, r.randint(0, 7)),))),
    Family("product", _fixed("list_product", "xs", "returns the product of the numbers in the list xs (1 for an "
                             "empty list)", "    result = 1\n    for x in xs:\n        result *= x\n    return result",
                             lambda r: (_ints(r, r.randint(0, 5), -9, 9),))),
    Family("digit_sum", _fixed("digit_sum", "n", "returns the sum of the decimal digits of the whole number n >= 0",
                               "    return sum(int(d) for d in str(n))", lambda r: (r.randint(0, 99999),))),
    Family("fizzbuzz", _fixed("fizzbuzz", "n", "returns 'FizzBuzz' if n is divisible by 15, 'Fizz' if it is divisible "
                              "by 3, 'Buzz' if it is divisible by 5, and otherwise n as a string",
                              "    if n % 15 == 0:\n        return 'FizzBuzz'\n    if n % 3 == 0:\n        return 'Fizz'\n"
                              "    if n % 5 == 0:\n        return 'Buzz'\n    return str(n)", lambda r: (r.randint(1, 60),))),
    Family("dedupe", _fixed("remove_duplicates", "xs", "returns the list xs without repeated numbers, keeping the "
                            "first occurrence of each in its original order",
                            "    seen = []\n    for x in xs:\n        if x not in seen:\n            seen.append(x)\n"
                            "    return seen", lambda r: (_ints(r, r.randint(2, 8), 0, 5),))),
    Family("prime", _fixed("is_prime", "n", "returns True if the whole number n is a prime number, and False otherwise",
                           "    if n < 2:\n        return False\n    return all(n % d for d in range(2, int(n ** 0.5) + 1))",
                           lambda r: (r.randint(0, 60),))),
    Family("second", _fixed("second_largest", "xs", "returns the second largest distinct number in the list xs "
                            "(which has at least two distinct numbers)", "    return sorted(set(xs))[-2]",
                            lambda r: (_ints(r, r.randint(1, 5)) + [r.randint(21, 40), r.randint(41, 60)],))),
    Family("running", _fixed("running_total", "xs", "returns the list of running totals of xs: element i is the sum "
                             "of xs[0] to xs[i]", "    total, out = 0, []\n    for x in xs:\n        total += x\n"
                             "        out.append(total)\n    return out", lambda r: (_ints(r, r.randint(0, 6), -9, 9),))),
)
TESTS_PER_PROBLEM = 4


def _call(name: str, args: tuple) -> str:
    return f"{name}({', '.join(repr(a) for a in args)})"


def make_problem(index: int, seed: int) -> Problem:
    """Problem ``index`` of the set generated from ``seed`` (the same on every machine and Python version)."""
    rng = random.Random(f"boostlora-code-{seed}-{index}")
    family = FAMILIES[rng.randrange(len(FAMILIES))]
    name, params, text, body, draw = family.make(rng)
    namespace: dict[str, Any] = {}
    reference = f"def {name}({params}):\n{body}\n"
    exec(compile(reference, "<reference>", "exec"), namespace)  # our own reference code, for expected values
    function = namespace[name]
    calls: list[tuple] = []
    for _ in range(40):  # distinct inputs, so four tests are four checks
        args = draw(rng)
        if args not in calls:
            calls.append(args)
        if len(calls) == TESTS_PER_PROBLEM + 1:
            break
    example, tests = calls[0], calls[1:]
    prompt = (f"Write a Python function `{name}({params})` that {text}.\n"
              f"For example, `{_call(name, example)}` returns `{function(*example)!r}`.")
    units = tuple(f"assert {_call(name, args)} == {function(*args)!r}" for args in tests)
    return Problem(task_id=f"generated/{seed}/{index}/{family.key}", prompt=prompt, entry_point=name, units=units,
                   reference=reference)


def generate_problems(count: int, seed: int = 0) -> list[Problem]:
    """``count`` problems from ``seed``, no two with the same prompt.

    Some families have few distinct prompts (``factorial`` with an example from 0 to 10), so indices whose
    prompt already appeared are skipped: otherwise one problem could land on both sides of the split."""
    problems: list[Problem] = []
    prompts: set[str] = set()
    for index in range(50 * count):
        if len(problems) == count:
            break
        problem = make_problem(index, seed)
        if problem.prompt not in prompts:
            prompts.add(problem.prompt)
            problems.append(problem)
    return problems
