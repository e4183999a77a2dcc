"""Problem sources: HumanEval offline, local JSONL, MBPP rows, the hash split, and clear errors."""

from __future__ import annotations

import json

import pytest

from boostlora import DataError
from boostlora_plugins.code import data


def test_humaneval_offline_has_164_problems_with_references():
    problems = data.load_humaneval_package()
    assert len(problems) == 164 and len({p.task_id for p in problems}) == 164
    assert all(p.units and p.candidate and p.reference and p.prefix == p.prompt for p in problems)


def test_check_units_one_assertion_each_and_glues_setup_lines():
    setup, units = data.check_units(
        "METADATA = {}\n\ndef check(candidate):\n    import math\n    assert candidate(1) == 2\n    x = 3\n"
        "    for i in range(2):\n        assert candidate(i) == i + 1\n    y = 1\n"
    )
    assert "METADATA" in setup and "def check" not in setup
    assert units == ("import math\nassert candidate(1) == 2", "x = 3\nfor i in range(2):\n    assert candidate(i) == i + 1\ny = 1")


def test_split_is_deterministic_disjoint_and_independent_of_order():
    problems = data.load_humaneval_package()
    train, held = data.split_problems(problems, 0.25)
    train2, held2 = data.split_problems(list(reversed(problems)), 0.25)
    assert {p.task_id for p in held} == {p.task_id for p in held2}
    assert not {p.task_id for p in train} & {p.task_id for p in held}
    assert len(train) + len(held) == 164 and 25 <= len(held) <= 60


def test_jsonl_both_test_styles(tmp_path):
    path = tmp_path / "problems.jsonl"
    rows = [
        {"task_id": "a", "prompt": "def inc(x):\n", "entry_point": "inc", "test": "def check(candidate):\n    assert candidate(1) == 2\n",
         "canonical_solution": "    return x + 1\n"},
        {"prompt": "Write dbl(x).", "test_list": ["assert dbl(2) == 4", "assert dbl(0) == 0"], "solution": "def dbl(x):\n    return 2 * x\n"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    first, second = data.load_problems(str(path))
    assert first.candidate and first.units == ("assert candidate(1) == 2",) and first.reference == "def inc(x):\n    return x + 1\n"
    assert not second.candidate and second.entry_point == "dbl" and second.prefix == "" and second.task_id.endswith(":2")


@pytest.mark.parametrize("row,message", [
    ({"tests": []}, "string 'prompt'"),
    ({"prompt": "p"}, "needs tests"),
    ({"prompt": "p", "test": "def check(candidate):\n    assert 1\n"}, "entry_point"),
    ({"prompt": "p", "entry_point": "f", "test": "assert 1"}, r"check\(candidate\)"),
])
def test_jsonl_bad_rows_are_named(tmp_path, row, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(DataError, match=message):
        data.load_jsonl(path)


def test_jsonl_missing_file_and_bad_json(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        data.load_jsonl(tmp_path / "nope.jsonl")
    (tmp_path / "x.jsonl").write_text("{oops\n")
    with pytest.raises(DataError, match="x.jsonl:1: not valid JSON"):
        data.load_jsonl(tmp_path / "x.jsonl")


def test_mbpp_rows_full_and_sanitized():
    full = data._mbpp_problem({"task_id": 2, "text": "Write a function to add.", "code": "def add(a, b):\n    return a + b",
                               "test_list": ["assert add(1, 2) == 3"], "test_setup_code": "", "challenge_test_list": []})
    sanitized = data._mbpp_problem({"task_id": 3, "prompt": "Add.", "code": "import math\ndef add(a, b):\n    return a + b",
                                    "test_imports": ["import math"], "test_list": ["assert add(1, 2) == 3"]})
    assert full.task_id == "mbpp/2" and full.entry_point == "add" and "assert add(1, 2) == 3" in full.prompt
    assert sanitized.setup == "import math" and sanitized.units == ("assert add(1, 2) == 3",)


def test_hub_offline_gives_one_clear_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataError, match="Offline, use dataset=humaneval"):
        data.load_problems(data.MBPP_HUB, "sanitized", "test")
    with pytest.raises(DataError, match="subset must be"):
        data.load_problems(data.MBPP_HUB, "tiny", "test")
    with pytest.raises(DataError, match="unknown code dataset"):
        data.load_problems("someone/else", None, "test")


def test_a_problem_without_a_test_that_calls_the_program_is_refused_at_load_time(tmp_path, monkeypatch):
    from boostlora_plugins.code.task import CodeTask

    path = tmp_path / "free.jsonl"
    rows = [{"task_id": "ok", "prompt": "add", "test_list": ["assert add(1, 2) == 3", "assert True"]},
            {"task_id": "free", "prompt": "add", "test_list": ["assert True", "assert 1 + 1 == 2"]}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(DataError, match="problem free has no test that calls the program"):
        data.check_calls_program(data.load_jsonl(path))
    monkeypatch.setenv("BOOSTLORA_ALLOW_CODE_EXEC", "1")
    task = CodeTask({"allow_code_execution": True, "sandbox_isolation": "rlimits", "dataset": str(path)})
    with pytest.raises(DataError, match="free has no test that calls the program"):
        task.load_splits(0)
    assert len(data.check_calls_program(data.load_humaneval_package())) == 164
