"""Export a run's cumulative update as a standard peft LoRA adapter, for multi-LoRA serving without merging.

The boosted delta W_K - W0 of each module is exactly U_n C V_n^T (the ledger's core C on the first n singular
directions), so it is a low-rank matrix with no approximation: we factor the small core, C = P diag(s) Q^T,
keep its numerical rank rho, and write B = U_n P_rho diag(s_rho) (out x rho), A = (V_n Q_rho)^T (rho x in),
with lora_alpha = rank so peft's scaling is 1. A rotate run exports rank r times its rounds merged with a nonzero step; a top run at most r.

The adapter is meant for stock peft: it names a base a user can load (``adapter_base``), says ``CAUSAL_LM`` for a
causal language model, and its files follow the umask.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from boostlora.contract.plugins import find_task
from boostlora.foundation.config import build_config, load_yaml
from boostlora.foundation.errors import BoostLoraError, ConfigError, RunDirError
from boostlora.lm.causal_lm import is_gguf_model
from boostlora.method.merge import RankLedger, numerical_rank
from boostlora.method.subspace import Basis
from boostlora.runs import checkpoint as ckpt
from boostlora.runs import svd_cache

#: Where the export writes the base model when the run's base exists only as a GGUF file (``adapter_base``).
BASE_DIR = "base"
#: What peft's ``save_pretrained`` writes for one adapter.
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "README.md")


def lora_factors(
    cores_per_round: list[dict[str, torch.Tensor]], bases: dict[str, Basis], strategy: str, r: int
) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], int]:
    """Per target module (B, A) with B @ A = W_K - W0, padded to one shared rank, and that rank."""
    ledger = RankLedger(strategy, r)
    for k, cores in enumerate(cores_per_round):
        ledger.add(k, cores)
    factors = {}
    for name, core in ledger.cores.items():
        P, s, Qh = torch.linalg.svd(core)
        rank = numerical_rank(s)
        n = core.shape[0]
        U, V = bases[name].U[:, :n].double(), bases[name].V[:, :n].double()
        B = U @ P[:, :rank] * s[:rank]
        A = (V @ Qh[:rank].mT).mT
        factors[name] = (B.float(), A.float())
    width = max(1, max(B.shape[1] for B, _ in factors.values()))
    padded = {}
    for name, (B, A) in factors.items():
        pad = width - B.shape[1]
        padded[name] = (torch.nn.functional.pad(B, (0, pad)), torch.nn.functional.pad(A, (0, 0, 0, pad)))
    return padded, width


def export_lora(
    run_dir: Path, out: Path, round_index: int | None = None, base: str | None = None
) -> tuple[Path, int]:
    """Write ``adapter_config.json`` and ``adapter_model.safetensors`` for the run's base model into ``out``.

    The adapter holds the update after round ``round_index`` (rounds 0..K), by default the round the run kept
    (``keep``: the best on validation, or the last). Its ``base_model_name_or_path`` is a base a user can load
    (``adapter_base``); returns ``out`` and the number of rounds it holds.
    """
    from peft import LoraConfig, get_peft_model

    run_dir = Path(run_dir)
    state = ckpt.load_checkpoint(run_dir)
    if state is None or not (run_dir / ckpt.SVD_CACHE).exists():
        raise BoostLoraError(f"{run_dir} has no checkpoint and SVD cache: is it a boostlora run directory?")
    if not state["cores"]:
        raise BoostLoraError(f"{run_dir} has no merged rounds: there is nothing to export")
    rounds = rounds_to_export(state, round_index, run_dir)
    config = build_config(load_yaml(run_dir / ckpt.CONFIG))
    task = find_task(config.plugin, config.task)(config.task_options)
    extra = state.get("extra") or {}
    if extra:
        raise BoostLoraError(
            f"task '{task.name}' changed tensors outside the target modules ({', '.join(sorted(extra)[:3])}); a LoRA "
            f"adapter cannot carry them: serve {run_dir / ckpt.FINAL} instead"
        )
    bases, _ = svd_cache.read(run_dir / ckpt.SVD_CACHE)
    recorded = state["report"].get("svd")
    if recorded is None or svd_cache.record(bases, recorded["components"]) != recorded:
        raise RunDirError(
            f"{run_dir / ckpt.SVD_CACHE} does not hold the directions {run_dir / ckpt.CHECKPOINT}'s rounds were merged "
            f"on: resume the run once (boostlora run --resume {run_dir}) to recompute and check it, then export"
        )
    factors, rank = lora_factors(state["cores"][:rounds], bases, config.strategy, config.r)
    model_name = state["report"].get("model") or config.model or task.default_model
    out = Path(out)
    base_name = adapter_base(model_name, base, out)  # a bad --base is refused before the model loads
    model = task.load_model(model_name, torch.device("cpu"))
    if base is None and is_gguf_model(model_name):  # the dequantised weights exist nowhere else a user can name
        task.save_model(model, out / BASE_DIR)
    if hasattr(getattr(model, "config", None), "_name_or_path"):
        model.config._name_or_path = base_name  # peft's model card names it as base_model (not a cache path)
    lora = LoraConfig(
        r=rank,
        lora_alpha=rank,
        target_modules="^(" + "|".join(map(re.escape, factors)) + ")$",
        lora_dropout=0.0,
        init_lora_weights=False,
        task_type="CAUSAL_LM" if is_causal_lm(model) else None,
    )
    peft_model = get_peft_model(model, lora)
    inner = peft_model.get_base_model()
    with torch.no_grad():
        for name, (B, A) in factors.items():
            layer = inner.get_submodule(name)
            layer.lora_A["default"].weight.copy_(A)
            layer.lora_B["default"].weight.copy_(B)
    peft_model.peft_config["default"].base_model_name_or_path = base_name
    peft_model.save_pretrained(out, save_embedding_layers=False)
    ckpt.follow_umask(*(out / name for name in (*ADAPTER_FILES, BASE_DIR) if (out / name).exists()))
    return out, rounds


def adapter_base(model_name: str, base: str | None, out: Path) -> str:
    """What the adapter's ``base_model_name_or_path`` says, so that ``AutoPeftModelForCausalLM`` finds the base:

    ``base`` when the user names one (a local path made absolute, anything else taken as a hub id); for a run on a
    GGUF model (the offline default SmolLM2 included) ``out/base``, where the export writes the dequantised fp32
    weights the run boosted, because no hub checkpoint holds those weights; the absolute path of a local model
    directory; otherwise the run's model name (a hub id).
    """
    if base is not None:
        if not base.strip():
            raise ConfigError("--base is empty: give a hub id or the path of a model directory")
        local = Path(base).expanduser()
        if local.exists():
            if not (local / "config.json").is_file():
                raise ConfigError(f"--base {base}: {local} is not a model directory (it has no config.json)")
            return str(local.resolve())
        return base
    if is_gguf_model(model_name):
        return str((out / BASE_DIR).resolve())
    local = Path(model_name).expanduser()
    return str(local.resolve()) if local.exists() else model_name


def is_causal_lm(model: Any) -> bool:
    """True for a transformers causal language model, whose adapter peft should load as ``CAUSAL_LM``."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    return type(model).__name__ in set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())


def rounds_to_export(state: dict[str, Any], round_index: int | None, run_dir: Path) -> int:
    """How many merged rounds the adapter holds: up to ``round_index``, or up to the round the run kept."""
    merged = len(state["cores"])
    if round_index is None:
        report = state["report"]
        if "kept_round" not in report:  # an unfinished run (or one from before ``keep``): everything merged so far
            return merged
        if report["kept_round"] is None:
            raise BoostLoraError(
                f"{run_dir} kept the base model (no round beat it on validation): there is no update to export; "
                f"choose one with --round K (0..{merged - 1})"
            )
        return report["kept_round"] + 1
    if not 0 <= round_index < merged:
        raise ConfigError(f"--round {round_index} is not a merged round of {run_dir} (it has rounds 0..{merged - 1})")
    return round_index + 1
