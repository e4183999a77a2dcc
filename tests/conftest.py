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


#: Devices the device-parametrised tests run on: ``cpu`` always; set BOOSTLORA_TEST_DEVICES=cpu,cuda on a GPU
#: machine (benchmarks/gpu_check.sh does) and the same tests check the CUDA path.
DEVICES_ENV = "BOOSTLORA_TEST_DEVICES"


def test_devices() -> list[str]:
    import os

    names = [name.strip() for name in os.environ.get(DEVICES_ENV, "cpu").split(",") if name.strip()]
    missing = [name for name in names if name.startswith("cuda") and not torch.cuda.is_available()]
    if missing:
        raise pytest.UsageError(f"{DEVICES_ENV} names {', '.join(missing)}, but no CUDA device is available")
    return names


def pytest_generate_tests(metafunc):
    """Every test that takes a ``device`` argument runs once per device in BOOSTLORA_TEST_DEVICES."""
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", test_devices(), scope="module")  # module fixtures may take it too
