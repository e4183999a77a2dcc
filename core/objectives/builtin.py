"""Core's objectives, registered through the same hook third-party objectives use."""

from __future__ import annotations

from ..hookspecs import hookimpl


@hookimpl
def boostlora_register_objectives(register) -> None:
    from .cross_entropy import CrossEntropy
    from .grpo import GRPO
    from .sft import SFT

    register(CrossEntropy)
    register(GRPO)
    register(SFT)
