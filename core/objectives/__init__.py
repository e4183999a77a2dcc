"""Weak-learner trainers. ``base`` holds the interface; ``builtin`` registers core's own objectives."""

from .base import Objective, RoundContext, TrainResult

__all__ = ["Objective", "RoundContext", "TrainResult"]
