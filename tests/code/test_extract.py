"""Code extraction from chat answers and assembly with the prompt."""

from __future__ import annotations

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
