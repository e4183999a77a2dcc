"""Entry point of the built-in protein plugin: registers its task with boostlora."""

from boostlora import hookimpl


@hookimpl
def boostlora_register_tasks(register) -> None:
    from .task import ProteinTask

    register(ProteinTask)
