"""Deprecated location of ``boostlora.lm.causal_lm``: import from ``boostlora.lm`` instead.

Kept so that plugins written against earlier releases keep working; the name resolves to the new module itself.
"""

import sys
import warnings

from boostlora.lm import causal_lm as _moved

warnings.warn("boostlora.causal_lm is deprecated: import from boostlora.lm", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
