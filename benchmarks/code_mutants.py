"""How many buggy programs the generated code task pays for: a mutation benchmark of its hidden tests.

For every family of ``boostlora_plugins.code.generated`` a set of plausible wrong variants of the reference
(off-by-one, wrong comparison, wrong empty case, first instead of every occurrence, checks in the wrong order,
returning the prompt example's output, ...). Each mutant is run against every problem of its family and the table
gives, per family, the share of mutant-problem pairs that pass *all* hidden tests, with the legacy four random
tests (``--tests four``, the test set of earlier versions) and with the strong tests (edge cases + seeded random
inputs, the default). A mutant that passes is a bug a GRPO policy would be paid for. The references are run too:
they must pass 100%.

Mutants and references are our own code, so they run in this process by default (each unit is executed exactly
as the judge executes it: ``assert f(x) == y`` in a namespace holding the function). ``--sandbox`` runs the
references through the real checker (judge + sandboxed candidate) instead, as a check of the same claim.

    python benchmarks/code_mutants.py [--count 400] [--seed 0] [--markdown benchmarks/CODE_MUTANTS.md] [--sandbox]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict

from boostlora_plugins.code.data import Problem
from boostlora_plugins.code.generated import FAMILIES, generate_problems

# Per family: (label, body). ``{k}`` / ``{c}`` are the family's parameter, ``{name}`` the function's name.
# Every family also gets the mutant ``example``: return the prompt example's output, whatever the input.
MUTANTS: dict[str, list[tuple[str, str]]] = {
    "add": [("off by one", "return x + {k} + 1"), ("times instead of plus", "return x * {k}"),
            ("abs of x", "return abs(x) + {k}"), ("positives only", "return x + {k} if x > 0 else x")],
    "times": [("plus instead of times", "return x + {k}"), ("off by one factor", "return x * ({k} + 1)"),
              ("abs of x", "return abs(x) * {k}"), ("power", "return x ** {k}")],
    "divisible": [("zero is not divisible", "return n % {k} == 0 and n != 0"),
                  ("only above k", "return n % {k} == 0 and n > {k}"), ("positive only", "return n > 0 and n % {k} == 0"),
                  ("quotient test", "return n // {k} * {k} == n and n >= {k}"), ("even test", "return n % 2 == 0 and n % {k} == 0 and n != 0")],
    "count_letter": [("0 for short strings", "return 0 if len(s) < 5 else s.count('{c}')"),
                     ("presence not count", "return int('{c}' in s)"), ("skips first char", "return s[1:].count('{c}')"),
                     ("skips last char", "return s[:-1].count('{c}')"), ("at most 2", "return min(s.count('{c}'), 2)")],
    "greater_than": [(">= for >", "return [x for x in xs if x >= {k}]"), ("sorted", "return sorted(x for x in xs if x > {k})"),
                     ("deduplicated", "return list(dict.fromkeys(x for x in xs if x > {k}))"),
                     ("abs", "return [x for x in xs if abs(x) > {k}]"), ("drops last", "return [x for x in xs[:-1] if x > {k}]")],
    "remove_letter": [("first occurrence only", "return s.replace('{c}', '', 1)"), ("ends only", "return s.strip('{c}')"),
                      ("replaced by space", "return s.replace('{c}', ' ')"),
                      ("adjacent pairs kept", "return s.replace('{c}{c}', '{c}').replace('{c}', '', 1)")],
    "sum": [("skips first", "return sum(xs[1:])"), ("skips last", "return sum(xs[:-1])"),
            ("positives only", "return sum(x for x in xs if x > 0)"), ("wrong empty case", "return xs[0] + sum(xs[1:])"),
            ("distinct only", "return sum(set(xs))")],
    "max": [("last element", "return xs[-1]"), ("first element", "return xs[0]"), ("max with 0", "return max(xs + [0])"),
            ("abs", "return max(xs, key=abs)"), ("skips first", "return max(xs[1:]) if len(xs) > 1 else xs[0]")],
    "vowels": [("y is a vowel", "return sum(1 for ch in s if ch in 'aeiouy')"), ("misses u", "return sum(1 for ch in s if ch in 'aeio')"),
               ("distinct vowels", "return len(set(ch for ch in s if ch in 'aeiou'))"),
               ("0 for short strings", "return 0 if len(s) < 4 else sum(1 for ch in s if ch in 'aeiou')")],
    "double": [("plus two", "return [x + 2 for x in xs]"), ("drops zeros", "return [2 * x for x in xs if x]"),
               ("list repeated", "return xs * 2"), ("squares", "return [x * x for x in xs]"), ("sorted", "return sorted(2 * x for x in xs)")],
    "positives": [("0 is positive", "return sum(1 for x in xs if x >= 0)"), ("sum not count", "return sum(x for x in xs if x > 0)"),
                  ("distinct", "return len(set(x for x in xs if x > 0))"), ("length", "return len(xs)"),
                  ("skips first", "return sum(1 for x in xs[1:] if x > 0)")],
    "squares": [("range(n)", "return sum(i * i for i in range(n))"), ("n squared", "return n * n"),
                ("square of sum", "return sum(range(1, n + 1)) ** 2"), ("doubles", "return sum(2 * i for i in range(1, n + 1))"),
                ("wrong zero case", "return 1 if n == 0 else sum(i * i for i in range(1, n + 1))")],
    "factorial": [("range(1, n)", "result = 1\n    for i in range(1, n):\n        result *= i\n    return result"),
                  ("0 for n = 0", "return 0 if n == 0 else __import__('math').factorial(n)"),
                  ("recursion ends at n", "return n * {name}(n - 1) if n > 1 else n"), ("n * (n - 1)", "return max(1, n * (n - 1))"),
                  ("sum not product", "return max(1, sum(range(1, n + 1)))")],
    "sum_even": [("odd numbers", "return sum(x for x in xs if x % 2 == 1)"), ("positive evens only", "return sum(x for x in xs if x > 0 and x % 2 == 0)"),
                 ("even positions", "return sum(xs[::2])"), ("count not sum", "return sum(1 for x in xs if x % 2 == 0)"),
                 ("skips last", "return sum(x for x in xs[:-1] if x % 2 == 0)")],
    "product": [("0 for empty", "result = 0 if not xs else 1\n    for x in xs:\n        result *= x\n    return result"),
                ("starts at 0", "result = 0\n    for x in xs:\n        result *= x\n    return result"),
                ("skips zeros", "result = 1\n    for x in xs:\n        if x:\n            result *= x\n    return result"),
                ("abs", "result = 1\n    for x in xs:\n        result *= abs(x)\n    return result"), ("sum", "return sum(xs) if xs else 1")],
    "digit_sum": [("last digit", "return n % 10"), ("digit count", "return len(str(n))"),
                  ("digital root", "return (n - 1) % 9 + 1 if n else 0"), ("two digits", "return n // 10 + n % 10"),
                  ("skips first digit", "return sum(int(d) for d in str(n)[1:])")],
    "fizzbuzz": [("3 before 15", "if n % 3 == 0:\n        return 'Fizz'\n    if n % 5 == 0:\n        return 'Buzz'\n"
                  "    if n % 15 == 0:\n        return 'FizzBuzz'\n    return str(n)"),
                 ("5 before 15", "if n % 5 == 0:\n        return 'Buzz'\n    if n % 15 == 0:\n        return 'FizzBuzz'\n"
                  "    if n % 3 == 0:\n        return 'Fizz'\n    return str(n)"),
                 ("int not str", "return 'FizzBuzz' if n % 15 == 0 else 'Fizz' if n % 3 == 0 else 'Buzz' if n % 5 == 0 else n"),
                 ("labels swapped", "return 'FizzBuzz' if n % 15 == 0 else 'Buzz' if n % 3 == 0 else 'Fizz' if n % 5 == 0 else str(n)"),
                 ("never FizzBuzz", "return 'Fizz' if n % 3 == 0 else 'Buzz' if n % 5 == 0 else str(n)")],
    "dedupe": [("set", "return list(set(xs))"), ("sorted set", "return sorted(set(xs))"),
               ("keeps last occurrence", "return [x for i, x in enumerate(xs) if x not in xs[i + 1:]]"),
               ("drops repeated values", "return [x for x in xs if xs.count(x) == 1]"),
               ("adjacent only", "return [x for i, x in enumerate(xs) if i == 0 or xs[i - 1] != x]")],
    "prime": [("1 is prime", "if n < 1:\n        return False\n    return all(n % d for d in range(2, int(n ** 0.5) + 1))"),
              ("sqrt off by one", "if n < 2:\n        return False\n    return all(n % d for d in range(2, int(n ** 0.5)))"),
              ("odd is prime", "return n == 2 or (n > 2 and n % 2 == 1)"), ("no small-n case", "return all(n % d for d in range(2, n))"),
              ("odd and not 3k", "return n in (2, 3) or (n > 1 and n % 2 and n % 3 != 0)")],
    "second": [("xs[-2]", "return xs[-2]"), ("sorted(xs)[-2]", "return sorted(xs)[-2]"), ("second smallest", "return sorted(set(xs))[1]"),
               ("max - 1", "return max(xs) - 1"), ("second element by position", "return max(x for x in xs if x != xs[-1])")],
    "running": [("exclusive prefix", "return [sum(xs[:i]) for i in range(len(xs))]"),
                ("pairwise sums", "return [x + (xs[i - 1] if i else 0) for i, x in enumerate(xs)]"),
                ("wrong empty case", "out = [0]\n    for x in xs:\n        out.append(out[-1] + x)\n    return out[1:] if xs else [0]"),
                ("first counted twice", "total, out = xs[0] if xs else 0, []\n    for x in xs:\n        total += x\n        out.append(total)\n    return out"),
                ("final total only", "return [sum(xs)] if xs else []")],
}
_EXAMPLE = re.compile(r"For example, `.*` returns `(.*)`\.\s*$", re.S)


def parameter(problem: Problem) -> str:
    """The family parameter in the function's name (``add_7`` -> ``7``, ``count_a`` -> ``a``)."""
    return problem.entry_point.rsplit("_", 1)[-1]


def family_of(problem: Problem) -> str:
    return problem.task_id.rsplit("/", 1)[1]


def mutants(problem: Problem) -> list[tuple[str, str]]:
    """(label, program) for every mutant of ``problem``'s family, the prompt-example one included."""
    value = parameter(problem)
    out = _EXAMPLE.search(problem.prompt).group(1)
    header = problem.reference.splitlines()[0]
    bodies = MUTANTS[family_of(problem)] + [("example output", f"return {out}")]
    return [(label, f"{header}\n    {body.format(k=value, c=value, name=problem.entry_point)}\n") for label, body in bodies]


def passes_in_process(problem: Problem, program: str) -> bool:
    """Whether trusted ``program`` passes every unit of ``problem``, each unit executed as the judge does."""
    namespace: dict = {}
    try:
        exec(compile(program, "<mutant>", "exec"), namespace)
        for unit in problem.units:
            exec(compile(unit, "<test>", "exec"), namespace)
    except Exception:
        return False
    return True


def measure(problems: list[Problem]) -> tuple[dict[str, list[int]], dict[str, dict[str, list[int]]]]:
    """Per family [passing pairs, pairs] over all mutants, and per family and mutant the same."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    each: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for problem in problems:
        family = family_of(problem)
        for label, program in mutants(problem):
            ok = passes_in_process(problem, program)
            for row in (totals[family], each[family][label]):
                row[0] += ok
                row[1] += 1
    return totals, each


def references_pass(problems: list[Problem], sandbox: bool) -> tuple[int, int]:
    if not sandbox:
        return sum(passes_in_process(p, p.reference) for p in problems), len(problems)
    from boostlora_plugins.code.checker import Checker

    checker = Checker(isolation="auto", stop_on_failure=False)
    results = checker.check_many(problems, [p.reference for p in problems])
    return sum(r.ok for r in results), len(problems)


def table(count: int, seed: int, sandbox: bool) -> tuple[str, float]:
    """The markdown table and the share of mutant-problem pairs passing the strong tests overall."""
    before, before_each = measure(generate_problems(count, seed, "four"))
    strong = generate_problems(count, seed, "strong")
    after, after_each = measure(strong)
    ref_ok, ref_n = references_pass(strong, sandbox)
    tests = [len(p.units) for p in strong]
    lines = [
        f"Mutant-problem pairs passing all hidden tests, generated task, {count} problems of seed {seed} "
        f"(`before`: the legacy four random tests; `after`: the strong tests, {min(tests)} to {max(tests)} per problem, "
        f"mean {sum(tests) / len(tests):.1f}). References passing the strong tests: {ref_ok}/{ref_n}"
        f" ({'through the sandboxed checker' if sandbox else 'in process'}).",
        "",
        "| family | mutants | pairs | before | after | mutants still passing after (pairs) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for family in (f.key for f in FAMILIES):
        b, a = before[family], after[family]
        if not a[1]:
            continue
        alive = ", ".join(f"{label} ({ok}/{n})" for label, (ok, n) in after_each[family].items() if ok) or "none"
        lines.append(f"| {family} | {len(after_each[family])} | {a[1]} | {b[0] / b[1]:.1%} | {a[0] / a[1]:.1%} | {alive} |")
    b_all = [sum(v[i] for v in before.values()) for i in (0, 1)]
    a_all = [sum(v[i] for v in after.values()) for i in (0, 1)]
    lines.append(f"| **all** | | {a_all[1]} | {b_all[0] / b_all[1]:.1%} | {a_all[0] / a_all[1]:.1%} | |")
    lines += ["", "Per mutant, before -> after:", ""]
    for family in (f.key for f in FAMILIES):
        for label, (ok, n) in after_each[family].items():
            ob, nb = before_each[family][label]
            lines.append(f"- {family} / {label}: {ob}/{nb} ({ob / nb:.0%}) -> {ok}/{n} ({ok / n:.0%})")
    return "\n".join(lines) + "\n", a_all[0] / a_all[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sandbox", action="store_true", help="run the references through the sandboxed checker")
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args(argv)
    text, share = table(args.count, args.seed, args.sandbox)
    command = "python benchmarks/code_mutants.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = f"# Code mutants\n\nMade by `{command.strip()}`.\n\n{text}"
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(text)
    return 0 if share <= 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
