"""Calls through the judge behave like calls in one process: mutated arguments, iterators, collections, big
ints and exception arguments arrive as a test written for one process expects; in both test styles."""

from __future__ import annotations

import dataclasses

import pytest

from boostlora import DataError
from boostlora_plugins.code.checker import Checker
from boostlora_plugins.code.data import Problem, check_prefixes, load_humaneval_package

from .conftest import TIGHT


def _run(isolation, problem, program):
    return Checker(TIGHT, isolation, workers=1, stop_on_failure=False).check(problem, f"```python\n{program}\n```")


def _both_styles(name, units):
    """The same tests as HumanEval's ``check(candidate)`` units and as generated-task ``assert f(x) == y`` units."""
    humaneval = Problem(f"he/{name}", "", name, tuple(u.replace("F(", "candidate(") for u in units), candidate=True)
    generated = Problem(f"gen/{name}", "", name, tuple(u.replace("F(", f"{name}(") for u in units))
    return [humaneval, generated]


def _expect(isolation, name, units, right, wrong, passed_by_wrong=0):
    for problem in _both_styles(name, units):
        result = _run(isolation, problem, right)
        assert result.ok, (problem.task_id, result.detail)
        result = _run(isolation, problem, wrong)
        assert (result.status, result.passed) == ("failed", passed_by_wrong), (problem.task_id, result)


IN_PLACE = ("xs = [3, 1, 2]\nassert F(xs) is None\nassert xs == [1, 2, 3]",
            "xs = []\nF(xs)\nassert xs == []",
            "xs = [5, -1, 5, 0]\nF(xs)\nassert xs == [-1, 0, 5, 5]")


def test_an_in_place_sort_changes_the_tests_own_list(isolation):
    right = "def sort_in_place(xs):\n    xs.sort()"
    copy = "def sort_in_place(xs):\n    xs = sorted(xs)"  # sorts a copy: the caller's list is unchanged
    _expect(isolation, "sort_in_place", IN_PLACE, right, copy, passed_by_wrong=1)


def test_a_program_that_mutates_its_input_fails_input_unchanged_tests(isolation):
    units = ("xs = [3, 1, 2]\nassert F(xs) == [1, 2, 3]\nassert xs == [3, 1, 2]",
             "d = {'a': 1}\nassert F(d) == ['a']\nassert d == {'a': 1}")
    right = "def sorted_keys(x):\n    return sorted(x)"
    wrong = "def sorted_keys(x):\n    if isinstance(x, dict):\n        x.clear()\n        return ['a']\n    x.sort()\n    return x"
    _expect(isolation, "sorted_keys", units, right, wrong)


def test_dicts_sets_bytearrays_and_keyword_arguments_come_back(isolation):
    units = ("d = {'a': 1}\ns = {1}\nb = bytearray(b'ab')\nF(d, s, buf=b)\nassert (d, s, b) == ({'b': 2}, {1, 2}, bytearray(b'ba'))",
             "from collections import OrderedDict\nd = OrderedDict([('x', 1), ('y', 2)])\nF(d, set(), buf=bytearray())\n"
             "assert list(d) == ['b'] and type(d) is OrderedDict")
    right = "def touch(d, s, buf):\n    d.clear()\n    d['b'] = 2\n    s.add(2)\n    buf.reverse()"
    wrong = "def touch(d, s, buf):\n    d = {'b': 2}\n    s = s | {2}\n    buf = buf[::-1]"
    _expect(isolation, "touch", units, right, wrong)


def test_one_list_passed_twice_is_one_object_in_the_program(isolation):
    units = ("xs = [1]\nassert F(xs, xs) == 2\nassert xs == [1, 0]",
             "xs, ys = [1], [1]\nassert F(xs, ys) == 1\nassert (xs, ys) == ([1, 0], [1])")
    right = "def grow(a, b):\n    a.append(0)\n    return len(b)"
    wrong = "def grow(a, b):\n    a.append(0)\n    return 2 if a == [1, 0] else 0"
    _expect(isolation, "grow", units, right, wrong, passed_by_wrong=1)


def test_a_mutation_before_an_exception_still_comes_back(isolation):
    units = ("xs = [1]\ntry:\n    F(xs)\nexcept ValueError:\n    pass\nelse:\n    raise AssertionError('no ValueError')\n"
             "assert xs == [1, 'seen']",)
    right = "def fail_after(xs):\n    xs.append('seen')\n    raise ValueError('after')"
    wrong = "def fail_after(xs):\n    raise ValueError('before')"
    _expect(isolation, "fail_after", units, right, wrong)


def test_generators_arrive_as_iterators_over_their_items(isolation):
    units = ("assert list(F(3)) == [0, 1, 2]", "assert list(F(0)) == []",
             "it = F(2)\nassert next(it) == 0 and list(it) == [1]", "assert F(3) != [0, 1, 2]  # not a list, as in one process")
    right = "def upto(n):\n    i = 0\n    while i < n:\n        yield i\n        i += 1"
    _expect(isolation, "upto", units, right, "def upto(n):\n    return iter(range(1, n + 1))", passed_by_wrong=2)
    for problem in _both_styles("upto", units):
        assert _run(isolation, problem, "def upto(n):\n    return map(int, range(n))").ok
        endless = _run(isolation, problem, "import itertools\ndef upto(n):\n    return itertools.count()")
        assert endless.passed == 0 and "more than 100000 items" in endless.detail, endless


def test_counter_ordereddict_defaultdict_results_pass(isolation):
    units = ("from collections import Counter\nassert F('abca') == Counter({'a': 2, 'b': 1, 'c': 1})",
             "assert F('aab')['zzz'] == 0 and type(F('a')).__name__ == 'Counter'",
             "assert F('ba') == {'b': 1, 'a': 1}")
    _expect(isolation, "letters", units, "from collections import Counter\ndef letters(s):\n    return Counter(s)",
            "def letters(s):\n    return {c: 1 for c in s}", passed_by_wrong=1)
    units = ("from collections import OrderedDict\nassert F([2, 1]) == OrderedDict([(2, 0), (1, 1)]) and type(F([2, 1])) is OrderedDict",
             "from collections import defaultdict\nd = F([])\nd['new'] += 1\nassert d == {'new': 1}")
    right = ("from collections import OrderedDict, defaultdict\ndef index(xs):\n    return OrderedDict((x, i) for i, x in enumerate(xs)) "
             "if xs else defaultdict(int)")
    _expect(isolation, "index", units, right, "def index(xs):\n    return {x: i for i, x in enumerate(xs)}")


def test_ints_over_4300_digits_cross_both_ways(isolation):
    units = ("assert F(5000) == 10 ** 5000", "assert F(10 ** 5000) == 10 ** 10000", "assert F(2) == 100")
    right = "def power(n):\n    return 10 ** n if n < 10 ** 6 else n * n"
    _expect(isolation, "power", units, right, "def power(n):\n    return 10 ** n if n < 10 ** 6 else n", passed_by_wrong=2)


def test_exceptions_carry_their_arguments(isolation):
    units = ("try:\n    F({}, 'k')\nexcept KeyError as e:\n    assert e.args == ('k',)\nelse:\n    raise AssertionError",
             "try:\n    F({}, ('a', 1))\nexcept KeyError as e:\n    assert e.args[0] == ('a', 1)\nelse:\n    raise AssertionError",
             "assert F({'k': 3}, 'k') == 3")
    right = "def lookup(d, key):\n    return d[key]"
    wrong = "def lookup(d, key):\n    if key not in d:\n        raise KeyError('missing ' + str(key))\n    return d[key]"
    _expect(isolation, "lookup", units, right, wrong, passed_by_wrong=1)


def test_a_prompt_that_does_not_run_is_an_error_in_the_judge_and_at_load_time(isolation):
    prefix = "import not_a_module_anywhere\n\n\ndef helper(x):\n    return x\n\n\ndef f(x):\n    \"\"\"x\"\"\"\n"
    problem = Problem("bad/prefix", prefix, "f", ("assert helper(candidate(1)) == 1",), prefix=prefix, candidate=True)
    result = _run(isolation, problem, "def f(x):\n    return x\n\ndef helper(x):\n    return 1")
    assert result.status == "error" and "prompt code does not run in the judge: ModuleNotFoundError" in result.detail
    with pytest.raises(DataError, match=r"^problem bad/prefix: its prompt code does not run on its own \(ModuleNotFoundError"):
        check_prefixes([Problem("ok", "", "g", ("assert g()",), prefix="import math\n"), problem])


def test_all_164_humaneval_prompts_load():
    problems = load_humaneval_package()
    assert len(check_prefixes(problems)) == 164
    broken = dataclasses.replace(problems[7], prefix=problems[7].prefix + "\nraise RuntimeError('x')\n")
    with pytest.raises(DataError, match="HumanEval/7"):
        check_prefixes(problems[:7] + [broken])


def test_an_exception_of_the_programs_own_class_arrives_as_its_builtin_base(isolation):
    units = ("try:\n    F(-1)\nexcept ValueError as e:\n    assert e.args == ('negative', -1)\nelse:\n    raise AssertionError",
             "assert F(4) == 2")
    right = "class Negative(ValueError):\n    pass\n\ndef root(x):\n    if x < 0:\n        raise Negative('negative', x)\n    return int(x ** 0.5)"
    wrong = "class Negative(Exception):\n    pass\n\ndef root(x):\n    if x < 0:\n        raise Negative('negative', x)\n    return int(x ** 0.5)"
    _expect(isolation, "root", units, right, wrong, passed_by_wrong=1)
