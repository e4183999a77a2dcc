"""What a run hands its user loads with the standard tools alone: ``final/`` with transformers, ``lora/`` with peft
(on the base its adapter_config names), in a process that never imports boostlora, and both give the logits of
the model the run merged; every file the run and the export write follows the umask.

The run is one GRPO round of one step on a tiny random-init Llama saved as a local model directory, so the
adapter's base is that directory, as it would be for a user's own model; a second export treats it as a GGUF base,
which the export writes beside the adapter.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from boostlora import Verdict, hookimpl
from boostlora.cli import main
from boostlora.contract.plugins import register_plugin, unregister_plugin
from boostlora.foundation.config import build_config
from boostlora.lm import load_causal_lm
from boostlora.method.merge import replay_round
from boostlora.method.subspace import SubspaceAllocator
from boostlora.runs import checkpoint as ckpt
from boostlora.runs import export, svd_cache
from boostlora.runs.lifecycle import boost

import math_helpers

pytest.importorskip("trl")

PROMPT = "what is 3 + 1 ? a b c"


class SavedCountA(math_helpers.CountA):
    """CountA on a model read from a local directory, as a user's own model would be, rewarding the word 'c'
    (which this model samples about one time in ten, so one GRPO step has a reward that varies)."""

    name = "count_a_saved"
    predict_tokens = 2

    def load_model(self, model, device):
        loaded, self.tokenizer = load_causal_lm(model, device)
        return loaded

    def oracle(self, example, prediction) -> Verdict:
        words = prediction.split()
        return Verdict(bool(words) and all(w == "c" for w in words), score=sum(w == "c" for w in words) / max(len(words), 1))


@hookimpl
def boostlora_register_tasks(register) -> None:
    register(SavedCountA)


@pytest.fixture(scope="module")
def saved_plugin():
    register_plugin(sys.modules[__name__], name="interop_plugin")
    yield
    unregister_plugin("interop_plugin")


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = math_helpers.make_tokenizer()
    math_helpers.make_model(len(tokenizer), seed=0, init_range=0.3).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def settings(base: Path) -> dict:
    return {"plugin": "interop_plugin", "task": "count_a_saved", "model": str(base), "r": 2, "u": 4,
            "weight_tying": 0.0, "max_rounds": 1, "show_progress": False, "keep": "last", "threads": 1,
            "objective_options": {"lr": 0.5, "steps": 1, "prompts_per_step": 2, "num_generations": 8,
                                  "max_completion_length": 4, "warmup_steps": 0}}


#: Runs with the standard tools only: it never imports boostlora, and says so by checking sys.modules.
STOCK_LOADER = textwrap.dedent("""
    import json, sys
    import torch
    from peft import AutoPeftModelForCausalLM, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    final, lora, written_base, prompt, out = sys.argv[1:6]
    tokenizer = AutoTokenizer.from_pretrained(final)
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    base_name = json.load(open(lora + "/adapter_config.json"))["base_model_name_or_path"]
    models = {
        "final": AutoModelForCausalLM.from_pretrained(final, dtype=torch.float32),
        "auto_peft": AutoPeftModelForCausalLM.from_pretrained(lora, dtype=torch.float32),
        "peft": PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_name, dtype=torch.float32), lora),
        "base": AutoModelForCausalLM.from_pretrained(base_name, dtype=torch.float32),
        "auto_peft_written_base": AutoPeftModelForCausalLM.from_pretrained(written_base, dtype=torch.float32),
    }
    assert not [m for m in sys.modules if m.split(".")[0] in ("boostlora", "boostlora_plugins")], "boostlora imported"
    with torch.no_grad():
        logits = {name: model.eval()(ids).logits for name, model in models.items()}
    torch.save({"ids": ids, "logits": logits, "peft_class": type(models["auto_peft"]).__name__}, out)
""")


def stock_logits(run_dir: Path, tmp_path: Path) -> dict:
    """Logits of final/ and lora/ as transformers and peft load them in a process without boostlora."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    out = tmp_path / "stock.pt"
    done = subprocess.run([sys.executable, "-c", STOCK_LOADER, str(run_dir / "final"), str(run_dir / "lora"),
                           str(run_dir / "lora-gguf"), PROMPT, str(out)],
                          env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    return torch.load(out, weights_only=True)


def run_model(run_dir: Path, base: Path):
    """The run's merged model, rebuilt in this process as ``--resume`` rebuilds it: base plus every round's cores."""
    config = build_config(settings(base))
    task = SavedCountA({})
    model = task.load_model(str(base), torch.device("cpu"))
    bases, _ = svd_cache.read(run_dir / ckpt.SVD_CACHE)
    allocator = SubspaceAllocator(bases, config.strategy, config.r, config.block_scale)
    for k, cores in enumerate(ckpt.load_checkpoint(run_dir)["cores"]):
        replay_round(model, allocator, k, cores)
    return model.eval(), task.tokenizer


def file_modes(*roots: Path) -> dict[str, int]:
    return {str(p): stat.S_IMODE(p.stat().st_mode) for root in roots for p in [root, *root.rglob("*")]}


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_final_and_lora_load_with_stock_tools_and_follow_the_umask(saved_plugin, base_dir, tmp_path, umask, monkeypatch):
    run_dir = tmp_path / "run"
    previous = os.umask(umask)
    try:
        boost(build_config(settings(base_dir)), run_dir)
        assert main(["export", str(run_dir)]) == 0
        # as for a GGUF base (the offline default): the export writes the base it boosted beside the adapter
        monkeypatch.setattr(export, "is_gguf_model", lambda name: True)
        assert main(["export", str(run_dir), "--out", str(run_dir / "lora-gguf")]) == 0
    finally:
        os.umask(previous)

    modes = file_modes(run_dir)
    wrong = {path: oct(mode) for path, mode in modes.items()
             if mode != (0o777 if Path(path).is_dir() else 0o666) & ~umask}
    assert not wrong, f"modes that ignore umask {oct(umask)}: {wrong}"

    adapter = json.loads((run_dir / "lora" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(base_dir.resolve())
    assert adapter["task_type"] == "CAUSAL_LM"
    written = json.loads((run_dir / "lora-gguf" / "adapter_config.json").read_text())
    assert written["base_model_name_or_path"] == str((run_dir / "lora-gguf" / "base").resolve())
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in (run_dir / "lora-gguf" / "base").iterdir()}
    card = (run_dir / "lora" / "README.md").read_text()
    assert f"base_model: {base_dir.resolve()}" in card and ".cache" not in card

    if umask != 0o022:
        return  # the files are the same under either umask; loading them once is enough
    stock = stock_logits(run_dir, tmp_path)
    model, tokenizer = run_model(run_dir, base_dir)
    ids = tokenizer(PROMPT, return_tensors="pt")["input_ids"]
    assert torch.equal(stock["ids"], ids)  # final/'s tokenizer reads text as the run's did
    with torch.no_grad():
        expected = model(ids).logits
    logits = stock["logits"]
    assert stock["peft_class"] == "PeftModelForCausalLM"
    assert (logits["base"] - expected).abs().max().item() > 1e-3  # the round did change the model
    for name in ("final", "auto_peft", "peft", "auto_peft_written_base"):
        gap = (logits[name] - expected).abs().max().item()
        print(f"{name}: largest logit difference from the run's model {gap:.2e}")
        assert gap < 1e-4, f"{name}: logits differ from the run's model by {gap:.2e}"


def test_grpo_step_metrics_reach_tensorboard(saved_plugin, base_dir, tmp_path):
    """GRPO's per-step log (TRL's reward, loss, ...) reaches the tracker beside the round's record."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "run"
    options = {**settings(base_dir)["objective_options"], "steps": 2}
    report = boost(build_config({**settings(base_dir), "objective_options": options, "report_to": ["tensorboard"]}),
                   run_dir)
    (events_dir,) = {p.parent for p in (run_dir / "tracking").rglob("events.out.tfevents.*")}
    events = EventAccumulator(str(events_dir))
    events.Reload()
    rewards = [(e.step, e.value) for e in events.Scalars("train/reward")]
    assert [step for step, _ in rewards] == [1, 2]
    metrics = report["rounds"][0]["train_metrics"]
    assert rewards[0][1] == pytest.approx(metrics["reward_first"]) and rewards[1][1] == pytest.approx(metrics["reward_last"])
    assert [e.step for e in events.Scalars("eval/accuracy")] == [0, 2]
