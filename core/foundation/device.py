"""Which torch device a run uses: one place that turns a setting such as ``auto`` or ``cuda:1`` into a device."""

from __future__ import annotations

import torch

from boostlora.foundation.config import RunConfig
from boostlora.foundation.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"device '{name}' is not a torch device (use auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' asked for, but no CUDA device is available")
    return device


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
