"""Which torch device a run uses: one place that turns a setting such as ``auto`` or ``cuda:1`` into a device."""

from __future__ import annotations

import torch

from boostlora.foundation.config import RunConfig, shown
from boostlora.foundation.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """The device ``name`` names, refused (``ConfigError``) unless this machine has it: cpu, cuda or cuda:N for a
    present GPU, mps where torch was built with it and the machine has one. ``meta`` and other devices that hold no
    data are refused too: a run needs its weights."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ConfigError(f"device {shown(name)} is not a torch device (use auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {shown(name)} asked for, but no CUDA device is available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {shown(name)} asked for, but this machine has {torch.cuda.device_count()} "
                              f"CUDA device(s) (cuda:0 to cuda:{torch.cuda.device_count() - 1})")
        return device
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return device
        raise ConfigError(f"device {shown(name)} asked for, but this machine has no MPS device (use auto, cpu or cuda)")
    raise ConfigError(f"device {shown(name)} cannot run a model here (use auto, cpu, cuda or cuda:N)")


def set_up_process(config: RunConfig) -> torch.device:
    """The run's device, its CPU thread count and the global seed, set before any data or model loads."""
    device = resolve_device(config.device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    return device


def run_dtype(config: RunConfig) -> torch.dtype:
    """The torch dtype of the run's model (``dtype``)."""
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[config.dtype]
