"""Pull the program out of a model's answer, and join it to the prompt the way HumanEval and MBPP expect.

Chat models answer with prose around one or more fenced blocks; base models continue the prompt with a
function body. Both must reach the tests as one program in which the prompt's imports and helper functions
still exist (HumanEval prompts import ``List`` and sometimes define helpers the answer relies on).
"""

from __future__ import annotations

import ast
import re

_LANG = re.compile(r"[ \t]*([A-Za-z0-9_+-]*)")
_CODE_START = re.compile(r"^(?:def |async def |class |import |from \S+ import |@)")
_NOT_PYTHON = {"bash", "sh", "shell", "console", "text", "txt", "output", "json", "yaml"}
# Host-side work on an answer is linear in its length: the answer is the policy's output, and a policy that
# learns to write long prose must not buy minutes of the trainer's CPU per completion.
PROSE_CHARS = 32_000  # the part of a fence-less answer searched for code; real answers are a few thousand
PROSE_STARTS = 8  # code-looking lines tried as the start of the program
PROSE_PARSES = 32  # parses in all, each of at most PROSE_CHARS


def _parses(code: str) -> bool:
    return _syntax_error_line(code) is None


def _syntax_error_line(code: str) -> int | None:
    """None when ``code`` parses, else the 1-based line of the first error (0 when the parser does not say)."""
    try:
        ast.parse(code)
    except SyntaxError as exc:
        return exc.lineno or 0
    except (ValueError, RecursionError, MemoryError):  # null bytes, nesting too deep for the parser
        return 0
    return None


def _defines(code: str, name: str | None) -> bool:
    # ``[ \t]`` rather than ``\s``: ``^\s*`` would run across blank lines from every line start (quadratic)
    return bool(name) and re.search(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(name)}[ \t]*\(", code,
                                    re.MULTILINE) is not None


def fenced_blocks(text: str) -> list[str]:
    """Contents of the fenced code blocks in ``text`` that may be Python (an unclosed last fence counts).

    A fence opens with three backticks and an optional language on the same line and closes at the next three
    backticks, anywhere. One pass with ``str.find``: a regular expression for this backtracks over a long line of
    backticks without a newline, quadratic in its length."""
    blocks, position = [], 0
    while True:
        opened = text.find("```", position)
        newline = text.find("\n", opened + 3) if opened >= 0 else -1
        if newline < 0:  # no fence, or one without a line after it: nothing further can open a block
            return blocks
        lang = _LANG.match(text, opened + 3, newline).group(1)
        closed = text.find("```", newline + 1)
        if lang.lower() not in _NOT_PYTHON:
            blocks.append(text[newline + 1:closed if closed >= 0 else len(text)])
        if closed < 0:
            return blocks
        position = closed + 3


def _from_prose(text: str) -> str:
    """The longest stretch that parses, starting at a line that looks like code (no fences).

    From each of the first ``PROSE_STARTS`` code-looking lines, the stretch to the end is cut just before the line
    where the parser stops, until it parses: at most ``PROSE_PARSES`` parses of at most ``PROSE_CHARS``
    characters, so the work is bounded whatever the answer (trying every end line, as before, was cubic: 15 s of
    CPU for 800 lines)."""
    lines = text[:PROSE_CHARS].splitlines()
    starts = [i for i, line in enumerate(lines) if _CODE_START.match(line)][:PROSE_STARTS]
    budget = PROSE_PARSES
    for start in starts:
        end = len(lines)
        while end > start and budget > 0:
            budget -= 1
            candidate = "\n".join(lines[start:end])
            error = _syntax_error_line(candidate)
            if error is None:
                return candidate + "\n"
            # keep the lines before the error; when the parser names no earlier line, drop the last one
            end = start + error - 1 if 0 < error <= end - start else end - 1
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
