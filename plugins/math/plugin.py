"""Entry point of the built-in math plugin: registers its task with boostlora."""

from boostlora import hookimpl


@hookimpl
def boostlora_register_tasks(register) -> None:
    from .task import MathTask  # imported on registration so `boostlora plugins` stays quick to import

    register(MathTask)
