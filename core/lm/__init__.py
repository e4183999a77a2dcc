"""Language-model helpers for text tasks: load a causal LM (a hub name, a local path, or the offline default) and
generate from it in fast batches.

This is public API for plugin authors, used by the built-in math and code tasks exactly as a third-party text
task would use it::

    from boostlora.lm import OFFLINE_DEFAULT, generate, load_causal_lm, render_prompt
"""

from boostlora.lm.causal_lm import OFFLINE_DEFAULT, load_causal_lm
from boostlora.lm.generation import Prompt, generate, render_prompt, truncate_at_stop

__all__ = ["OFFLINE_DEFAULT", "Prompt", "generate", "load_causal_lm", "render_prompt", "truncate_at_stop"]
