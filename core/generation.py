"""Deprecated location of ``boostlora.lm.generation``: import from ``boostlora.lm`` instead.

Kept so that plugins written against earlier releases keep working; the name resolves to the new module itself.
"""

import sys
import warnings

from boostlora.lm import generation as _moved

warnings.warn("boostlora.generation is deprecated: import from boostlora.lm", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = _moved
