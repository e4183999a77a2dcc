"""Pull the program out of a model's answer, and join it to the prompt the way HumanEval and MBPP expect.

Chat models answer with prose around one or more fenced blocks; base models continue the prompt with a
function body. Both must reach the tests as one program in which the prompt's imports and helper functions
still exist (HumanEval prompts import ``List`` and sometimes define helpers the answer relies on).
"""

from __future__ import annotations

import ast
import re

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_CODE_START = re.compile(r"^(?:def |async def |class |import |from \S+ import |@)")
_NOT_PYTHON = {"bash", "sh", "shell", "console", "text", "txt", "output", "json", "yaml"}


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _defines(code: str, name: str | None) -> bool:
    return bool(name) and re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None


def fenced_blocks(text: str) -> list[str]:
    """Contents of the fenced code blocks in ``text`` that may be Python (an unclosed last fence counts)."""
    return [body for lang, body in _FENCE.findall(text) if lang.lower() not in _NOT_PYTHON]


def _from_prose(text: str) -> str:
    """The longest stretch that parses, starting at the first line that looks like code (no fences)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if _CODE_START.match(line)]
    for start in starts:
        for end in range(len(lines), start, -1):
            candidate = "\n".join(lines[start:end])
            if _parses(candidate):
                return candidate + "\n"
    return text


def extract_code(answer: str, entry_point: str | None = None) -> str:
    """The code in ``answer``: the fenced block defining ``entry_point`` (else the longest block), or the
    answer itself when it is plain code or an indented body, or the code-looking part of prose."""
    blocks = fenced_blocks(answer)
    if blocks:
        defining = [b for b in blocks if _defines(b, entry_point)]
        return max(defining or blocks, key=len)
    if _parses(answer) or answer[:1] in (" ", "\t"):
        return answer
    return _from_prose(answer)


def assemble(prefix: str, answer: str, entry_point: str | None) -> str:
    """The program to test: the prompt's code (imports, helpers, signature) and the extracted answer.

    An answer that defines ``entry_point`` follows the prompt as a whole new definition (the prompt's stub,
    whose body is only its docstring, is harmless and is overridden); an answer that does not is taken as
    the continuation of the prompt's function body, HumanEval's original completion format.
    """
    code = extract_code(answer, entry_point)
    if not prefix:
        return code
    if _defines(code, entry_point):
        return prefix.rstrip() + "\n\n\n" + code
    return prefix + code
