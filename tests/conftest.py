import pytest
import torch

torch.set_num_threads(1)  # tiny test models: more threads only add overhead (and contention on shared CI)


@pytest.fixture(scope="session")
def toy_plugin():
    """The test-only toy plugin, registered through the public API (as a notebook or a test would)."""
    from boostlora.contract.plugins import register_plugin, unregister_plugin

    from . import toy_plugin as module

    register_plugin(module, name="toy")
    yield module
    unregister_plugin("toy")
