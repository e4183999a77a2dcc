"""The opt-in for executing model-written code: a task option AND an environment variable.

Running code a model wrote is running untrusted code, sandbox or not. Like Hugging Face's ``code_eval``
(``HF_ALLOW_CODE_EVAL``) and lm-evaluation-harness (``--confirm_run_unsafe_code``), boostlora asks for two
deliberate acts: the run's setting says this experiment executes code, and the environment of the machine
says code may be executed here. A config file copied to another machine therefore cannot execute anything
there on its own.
"""

from __future__ import annotations

import os

from boostlora import ConfigError

ENV_VAR = "BOOSTLORA_ALLOW_CODE_EXEC"
OPTION = "allow_code_execution"
_YES = {"1", "true", "yes"}


def env_allows() -> bool:
    return os.environ.get(ENV_VAR, "").strip().lower() in _YES


def require_consent(option_value: object) -> None:
    """Raise ConfigError explaining the two switches unless both are on."""
    missing = []
    if option_value is not True:
        missing.append(f"the task option {OPTION}=true (e.g. `boostlora run --plugin code task_options.{OPTION}=true`)")
    if not env_allows():
        missing.append(f"the environment variable {ENV_VAR}=1")
    if missing:
        raise ConfigError(
            "the code task executes model-written programs (sandboxed, but still untrusted code); "
            "to allow it, set " + " and ".join(missing)
        )
