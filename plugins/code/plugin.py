"""Entry point of the built-in code plugin: registers its task with boostlora."""

from boostlora import hookimpl


@hookimpl
def boostlora_register_tasks(register) -> None:
    from .task import CodeTask  # imported here so listing plugins does not load torch-heavy modules early

    register(CodeTask)
