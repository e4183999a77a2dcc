"""boostlora: gradient boosting over ultra-low-parameter TinyLoRA adapters (BoostLoRA, arXiv 2604.27308).

Public API for plugin authors: ``hookimpl``, the ``Task`` base class and its capability protocols,
``CausalLMTask`` (the base of a text task, with ``CausalLMOptions``), ``Verdict``/``Splits``/``Evaluation``, the
``Objective`` interface (with ``require_capability``), typed ``Options``
with ``option``, what lifecycle hooks receive (``RunView``, ``RoundRecord``), the errors, ``register_plugin`` for
notebooks and tests, and ``boostlora.lm`` for text tasks (loading a causal LM, batched generation). Everything
else is internal. The plugin author's reference is docs/plugins.md; docs/architecture.md shows the layers.

``PLUGIN_API_VERSION`` names the version of that contract. It goes up by one when a public name, hook or method
changes shape; the old spelling then keeps working for one more release, with a ``DeprecationWarning`` that names
the new one (``record["round"]`` -> ``record.round``, ``boostlora.causal_lm`` -> ``boostlora.lm``).
"""

from typing import Any

from boostlora.contract.hookspecs import hookimpl
from boostlora.contract.objective import (
    Objective,
    RoundContext,
    TrainResult,
    require_capability,
)
from boostlora.contract.options import Options, option
from boostlora.contract.records import RoundRecord
from boostlora.contract.task import GenerativeTask, ReferenceTask, SupervisedTask, Task
from boostlora.contract.values import Evaluation, Splits, Verdict
from boostlora.contract.views import RunView
from boostlora.foundation.errors import (
    BoostLoraError,
    ConfigError,
    DataError,
    MergeError,
)
from boostlora.lm.task import CausalLMOptions, CausalLMTask

__version__ = "0.1.0"
#: Version of the plugin contract (hooks, ``Task``/``Objective`` methods, public names); see docs/plugins.md.
#: 2: ``boostlora.lm`` (was ``boostlora.causal_lm`` / ``boostlora.generation``), ``RoundRecord`` attributes (was
#: ``record["key"]``), ``CausalLMTask``.
PLUGIN_API_VERSION = "2"

__all__ = [
    "PLUGIN_API_VERSION",
    "BoostLoraError",
    "CausalLMOptions",
    "CausalLMTask",
    "ConfigError",
    "DataError",
    "Evaluation",
    "GenerativeTask",
    "MergeError",
    "Objective",
    "Options",
    "ReferenceTask",
    "RoundContext",
    "RoundRecord",
    "RunView",
    "Splits",
    "SupervisedTask",
    "Task",
    "TrainResult",
    "Verdict",
    "hookimpl",
    "option",
    "register_plugin",
    "require_capability",
    "unregister_plugin",
]


def register_plugin(plugin: Any, name: str) -> None:
    """Register a plugin object (a module or instance with hook implementations) under ``name``, without packaging.

    Entry points are the normal way in; this is for notebooks and tests. Registering a name twice is refused.
    (The plugin manager loads installed plugins when first used, so it is imported here, not at import time.)
    """
    from boostlora.contract import plugins

    plugins.register_plugin(plugin, name)


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered with ``register_plugin``."""
    from boostlora.contract import plugins

    plugins.unregister_plugin(name)
