"""Core's objectives, registered through the same hook third-party objectives use."""

from __future__ import annotations

from boostlora.contract.hookspecs import hookimpl


@hookimpl
def boostlora_register_objectives(register) -> None:
    from boostlora.objectives.cross_entropy import CrossEntropy
    from boostlora.objectives.grpo import GRPO
    from boostlora.objectives.sft import SFT

    register(CrossEntropy)
    register(GRPO)
    register(SFT)
