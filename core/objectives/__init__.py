"""Weak-learner trainers: GRPO, SFT and cross-entropy. The interface is ``boostlora.Objective`` (``contract.objective``); ``builtin`` registers these through the ``boostlora`` entry-point group."""

from boostlora.contract.objective import Objective, RoundContext, TrainResult

__all__ = ["Objective", "RoundContext", "TrainResult"]
