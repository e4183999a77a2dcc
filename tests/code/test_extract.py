"""Code extraction from chat answers and assembly with the prompt."""

from __future__ import annotations

import time

import pytest

from boostlora_plugins.code.extract import assemble, extract_code, fenced_blocks

PROMPT = 'from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    """Sum of xs."""\n'


def test_fenced_block_with_prose():
    answer = "Here you go:\n\n```python\ndef total(xs):\n    return sum(xs)\n```\n\nThis sums the list."
    assert extract_code(answer, "total") == "def total(xs):\n    return sum(xs)\n"


def test_prefers_the_block_defining_the_entry_point():
    answer = "```python\nprint(total([1]))\n```\nand\n```py\ndef total(xs):\n    return sum(xs)\n```\n```bash\npython x.py\n```"
    assert "def total" in extract_code(answer, "total")


def test_unclosed_fence_and_shell_blocks():
    assert fenced_blocks("```python\ndef f():\n    return 1\n") == ["def f():\n    return 1\n"]
    assert fenced_blocks("```bash\nls\n```") == []


def test_prose_without_fences():
    answer = "The function is:\ndef total(xs):\n    return sum(xs)\nThat is all."
    assert extract_code(answer, "total").strip() == "def total(xs):\n    return sum(xs)"


def test_body_continuation_keeps_the_prompt():
    program = assemble(PROMPT, "    return sum(xs)\n", "total")
    assert program == PROMPT + "    return sum(xs)\n"


def test_whole_function_keeps_prompt_imports():
    program = assemble(PROMPT, "```python\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n```", "total")
    namespace: dict = {}
    exec(program, namespace)  # noqa: S102 - trusted test input; List comes from the prompt's import
    assert namespace["total"]([1, 2]) == 3
    assert program.startswith("from typing import List")


def test_no_prefix_returns_code_only():
    assert assemble("", "```python\ndef f():\n    return 1\n```", "f") == "def f():\n    return 1\n"


HOSTILE = {  # 100k characters each; the earlier parser took from 8 s to well over 20 s on three of them
    "code-looking lines that never parse": ("def f(:\n" * 12_500)[:100_000],
    "backticks without a newline": "`" * 100_000,
    "a body cut one line at a time": ("def f(x):\n" + "    y = 1 +\n" * 10_000)[:100_000],
    "blank lines before a def": "\n" * 99_990 + "def f(x):",
    "deep nesting": "(" * 100_000,
    "many short fences": ("```\nx\n" * 16_667)[:100_000],
    "long valid body then prose": "def f(x):\n" + "    x += 1\n" * 9_000 + "    return x\nThat is all (really.\n" * 20,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_answers_are_parsed_in_linear_time(name):
    """A complexity guard, not a benchmark: the bound is generous, the old cubic search missed it by 10x or more."""
    answer = HOSTILE[name]
    start = time.perf_counter()
    code = extract_code(answer, "f")
    assemble(PROMPT, answer, "f")
    assert time.perf_counter() - start < 1.0
    assert isinstance(code, str)


def test_prose_search_still_finds_the_longest_program():
    program = "def f(x):\n" + "    x += 1\n" * 500 + "    return x"
    answer = f"Here is a long one:\n{program}\nIt adds one 500 times (as asked).\nThanks!"
    assert extract_code(answer, "f") == program + "\n"
    assert extract_code("Try:\nimport math\ndef f(x):\n    return math.sqrt(x)\n\nCheers!", "f").strip() == \
        "import math\ndef f(x):\n    return math.sqrt(x)"
    fenced = "x" * 50_000 + "\n```python\ndef f(x):\n    return x\n```\n" + "y" * 50_000
    assert extract_code(fenced, "f") == "def f(x):\n    return x\n"
