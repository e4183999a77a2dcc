"""boostlora: gradient boosting over ultra-low-parameter TinyLoRA adapters (BoostLoRA, arXiv 2604.27308).

Public API for plugin authors: ``hookimpl``, the ``Task`` base class and its capability protocols,
``Verdict``/``Splits``/``Evaluation``, the ``Objective`` interface, typed ``Options`` with ``option``, what
lifecycle hooks receive (``RunView``, ``RoundRecord``), and the errors. Everything else is internal.
The plugin author's reference is docs/plugins.md.
"""

from .errors import BoostLoraError, ConfigError, DataError, MergeError
from .hookspecs import hookimpl
from .objectives.base import Objective, RoundContext, TrainResult
from .options import Options, option
from .recorder import RunView
from .report import RoundRecord
from .task import Evaluation, GenerativeTask, ReferenceTask, Splits, SupervisedTask, Task, Verdict

__version__ = "0.1.0"

__all__ = [
    "BoostLoraError",
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
]
