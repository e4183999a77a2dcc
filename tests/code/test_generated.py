"""The seeded offline problems: reproducible, varied, solvable by their references and failed by wrong answers."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

from boostlora import ConfigError
from boostlora_plugins.code.checker import Checker, to_verdict
from boostlora_plugins.code.generated import FAMILIES, TESTS_PER_PROBLEM, generate_problems, make_problem
from boostlora_plugins.code.task import CodeTask


def test_same_seed_same_problems_other_seed_other_problems():
    first, again, other = generate_problems(50, 0), generate_problems(50, 0), generate_problems(50, 1)
    assert first == again
    assert [p.units for p in first] != [p.units for p in other]
    assert make_problem(int(first[17].task_id.split("/")[2]), 0) == first[17]
    assert len({p.prompt for p in generate_problems(400, 0)}) == 400  # no prompt twice: no leak across the split


def test_every_family_appears_and_each_problem_has_four_distinct_tests():
    problems = generate_problems(400, 0, tests="four")  # the legacy test set, kept to reproduce old numbers
    assert {p.task_id.rsplit("/", 1)[1] for p in problems} == {f.key for f in FAMILIES}
    assert all(len(set(p.units)) == TESTS_PER_PROBLEM for p in problems)
    assert all(p.entry_point in p.prompt and "For example" in p.prompt and not p.prefix for p in problems)


def _example_call(problem):
    return re.search(r"For example, `(.*)` returns", problem.prompt).group(1)


def test_strong_tests_are_many_distinct_edge_cases_and_never_the_example():
    strong, legacy = generate_problems(400, 0), generate_problems(400, 0, tests="four")
    assert [p.prompt for p in strong] == [p.prompt for p in legacy]  # same problems, only the hidden tests grew
    assert all(len(set(p.units)) == len(p.units) >= 18 for p in strong)
    for s, old in zip(strong, legacy):
        assert set(old.units) <= set(s.units)  # the legacy tests stay
        assert not any(u.startswith(f"assert {_example_call(s)} ==") for u in s.units)  # the example is not a test
    by_family = {p.task_id.rsplit("/", 1)[1]: p for p in strong}
    assert "assert list_sum([]) == 0" in by_family["sum"].units
    assert "assert second_largest([5, 5, 3]) == 3" in by_family["second"].units
    assert "assert fizzbuzz(15) == 'FizzBuzz'" in by_family["fizzbuzz"].units
    assert generate_problems(60, 5) == generate_problems(60, 5)  # seeded and deterministic
    with pytest.raises(ValueError, match="strong, four"):
        make_problem(0, 0, tests="ten")


def test_generated_tests_option_picks_the_test_set(monkeypatch):
    monkeypatch.setenv("BOOSTLORA_ALLOW_CODE_EXEC", "1")
    options = {"allow_code_execution": True, "sandbox_isolation": "rlimits", "generated_count": 20}
    strong = CodeTask(options)._problems("generated", "test")
    four = CodeTask({**options, "generated_tests": "four"})._problems("generated", "test")
    assert all(len(p.units) >= 18 for p in strong) and all(len(p.units) == 4 for p in four)
    with pytest.raises(ConfigError, match="generated_tests must be one of strong, four"):
        CodeTask({**options, "generated_tests": "all"})._problems("generated", "test")


def _mutant_benchmark():
    return runpy.run_path(str(Path(__file__).parents[2] / "benchmarks" / "code_mutants.py"))


def test_mutants_of_every_family_fail_the_strong_tests_but_pass_the_legacy_ones():
    """A few problems per family, every mutant (buggy reference variants and the prompt-example answer), in process:
    at most 5% of mutant-problem pairs pass every strong test; the references all pass."""
    bench = _mutant_benchmark()
    for tests, expect_at_most in (("strong", 0.05), ("four", None)):
        problems = generate_problems(200, 11, tests=tests)
        picked = [p for key in (f.key for f in FAMILIES) for p in [q for q in problems if q.task_id.endswith("/" + key)][:3]]
        assert {p.task_id.rsplit("/", 1)[1] for p in picked} == {f.key for f in FAMILIES}
        assert all(bench["passes_in_process"](p, p.reference) for p in picked)
        pairs = [(p, program) for p in picked for _, program in bench["mutants"](p)]
        share = sum(bench["passes_in_process"](p, program) for p, program in pairs) / len(pairs)
        if expect_at_most is None:
            assert share > 0.15  # the benchmark can see what the legacy tests let through
        else:
            assert share <= expect_at_most, share


def test_cheating_answers_fail_the_strong_tests_in_the_sandbox(isolation):
    """Through the real checker: the prompt example's output, a lookup of the example, and plausible bugs."""
    problems = [p for p in generate_problems(120, 2) if p.task_id.rsplit("/", 1)[1] in ("second", "count_letter", "prime")][:6]
    bench = _mutant_benchmark()
    checker = Checker(isolation=isolation, stop_on_failure=False)
    answers, chosen = [], []
    for p in problems:
        out = re.search(r"returns `(.*)`\.$", p.prompt).group(1)
        lookup = (f"def {p.entry_point}(*args):\n    if {_example_call(p)[len(p.entry_point):]} == args:\n"
                  f"        return {out}\n    return {out}\n")
        for program in [lookup] + [program for _, program in bench["mutants"](p)]:
            answers.append(f"```python\n{program}```")
            chosen.append(p)
    results = checker.check_many(chosen, answers)
    assert not any(r.ok for r in results)
    assert all(to_verdict(r, graded=True).score < 1 for r in results)


def test_references_pass_and_wrong_answers_fail(isolation):
    problems = generate_problems(42, 3)
    checker = Checker(isolation=isolation, stop_on_failure=False)
    assert all(r.ok for r in checker.check_many(problems, [p.reference for p in problems]))
    wrong = [f"```python\ndef {p.entry_point}(*args):\n    return None\n```" for p in problems]
    assert not any(r.ok for r in checker.check_many(problems, wrong))
    assert all(to_verdict(r, graded=True).score < 1 for r in checker.check_many(problems, wrong))


def test_generated_is_the_default_and_bench_cpu_dataset():
    assert CodeTask.default_options["dataset"] == "generated"
    for preset in ("default", "bench-cpu"):
        assert CodeTask.presets[preset]["task_options"]["dataset"] == "generated"
