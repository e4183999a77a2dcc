"""How a problem is put to the model: chat messages, with an optional system prompt and few-shot turns.

Messages (not text) are the unit, so the model's own chat template is applied by whoever tokenizes
(``boostlora.lm`` for evaluation, TRL for GRPO), and a model without a template gets plain
``role: content`` lines from the same messages.
"""

from __future__ import annotations

from collections.abc import Sequence

from .data import MathExample

#: System prompts named after the answer format they ask for (TinyLoRA reproductions use these formats).
GSM8K_SYSTEM = (
    "Solve the math problem step by step. End your answer with a final line of the form '#### <number>'."
)
MATH_SYSTEM = "Solve the math problem step by step. Put your final answer in \\boxed{}."


def user_turn(example: MathExample, instruction: str) -> str:
    """The question, followed by the instruction (e.g. 'Answer with just the number.') when there is one."""
    return f"{example.question.strip()} {instruction.strip()}".strip() if instruction else example.question.strip()


def shot_answer(example: MathExample) -> str:
    """What a few-shot assistant turn says: the worked solution when known, else the bare answer."""
    return example.solution.strip() if example.solution else example.answer


def build_messages(
    example: MathExample, *, system: str = "", instruction: str = "", shots: Sequence[MathExample] = ()
) -> list[dict[str, str]]:
    """Chat messages for ``example``: system prompt, few-shot question/answer pairs, then the question."""
    messages = [{"role": "system", "content": system}] if system else []
    for shot in shots:
        messages.append({"role": "user", "content": user_turn(shot, instruction)})
        messages.append({"role": "assistant", "content": shot_answer(shot)})
    messages.append({"role": "user", "content": user_turn(example, instruction)})
    return messages
