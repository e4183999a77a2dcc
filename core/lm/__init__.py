"""Language-model helpers for text tasks: ``CausalLMTask`` (the base class of a text task), loading a causal LM (a hub
name, a local path, or the offline default) and generating from it in fast batches.

This is public API for plugin authors, used by the built-in math and code tasks exactly as a third-party text
task would use it::

    from boostlora.lm import OFFLINE_DEFAULT, CausalLMTask, generate, load_causal_lm, render_prompt
"""

from boostlora.lm.causal_lm import OFFLINE_DEFAULT, load_causal_lm
from boostlora.lm.generation import Prompt, generate, render_prompt, truncate_at_stop
from boostlora.lm.task import LLAMA_STYLE_TARGETS, TARGETS_BY_MODEL_TYPE, CausalLMOptions, CausalLMTask, targets_for

__all__ = ["LLAMA_STYLE_TARGETS", "OFFLINE_DEFAULT", "TARGETS_BY_MODEL_TYPE", "CausalLMOptions", "CausalLMTask",
           "Prompt", "generate", "load_causal_lm", "render_prompt", "targets_for", "truncate_at_stop"]
