"""The seeded offline problems: reproducible, varied, solvable by their references and failed by wrong answers."""

from __future__ import annotations

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
    problems = generate_problems(400, 0)
    assert {p.task_id.rsplit("/", 1)[1] for p in problems} == {f.key for f in FAMILIES}
    assert all(len(set(p.units)) == TESTS_PER_PROBLEM for p in problems)
    assert all(p.entry_point in p.prompt and "For example" in p.prompt and not p.prefix for p in problems)


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
