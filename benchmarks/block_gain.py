"""How much a round's adapter can move the model, block by block down the spectrum, on a task's own inputs.

A rotate round trains v in ``dW = B_k R(v) A_k`` with ``B_k = U_k diag(s_k)`` and ``A_k = V_k^T``. For an input
activation x the update's output is ``B_k R A_k x``, so how far one unit of v moves the model scales with
``|diag(s_k) V_k^T x|``: the block's singular values (which ``block_scale=matched`` equalises) times how much of
the task's activations fall in the block's input directions (which nothing equalises). Under Adam a step moves
every number in v by about ``lr`` whatever its gradient, so a block with a smaller gain gets a smaller move for
the same number of steps.

This script feeds a task's training prompts through the base model, records every target module's inputs, and
prints, per block k, the median over modules of

    gain_k / gain_0,   gain_k = sqrt(mean over tokens of |diag(s_k) V_k^T x|^2)

with s_k as the run would scale it (raw or matched), and the activation share alone (``|V_k^T x| / |V_0^T x|``).

It also asks whether the lower blocks are *useful* directions, not only weaker ones: with G the gradient of the
cross-entropy of the task's reference answers (for tasks that have them) with respect to a module's weight, the
gradient of the loss with respect to block k's r x r core is ``diag(s_k) U_k^T G V_k``. Its norm, relative to
block 0's, is how much first-order improvement a unit move in block k offers; the ``gain`` column does the same
with each block rescaled as ``block_scale=gain`` would (``boostlora.method.block_gain``).

    python benchmarks/block_gain.py --plugin math --rounds 8
"""

from __future__ import annotations

import argparse
import statistics

import torch

from boostlora.method.adapter import resolve_targets
from boostlora.method.block_gain import gain_factors, input_energy
from boostlora.foundation.config import build_config, merge_settings
from boostlora.lm.generation import render_prompt
from boostlora.objectives.sft import sft_batch
from boostlora.contract.plugins import find_task
from boostlora.method.subspace import SubspaceAllocator


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", default="math")
    parser.add_argument("--task")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    task_cls = find_task(args.plugin, args.task)
    settings = merge_settings({"plugin": args.plugin, "task": args.task}, task_cls.presets.get(args.preset, {}), "preset")
    config = build_config({**settings, "max_rounds": args.rounds, "strategy": "rotate", "show_progress": False})
    task = task_cls(config.task_options)
    model = task.load_model(config.model or task.default_model, torch.device("cpu"))
    model.requires_grad_(False)
    targets = resolve_targets(model, config.targets or list(task.default_targets))
    allocator = SubspaceAllocator.from_model(model, targets, strategy="rotate", r=config.r, max_rounds=args.rounds,
                                             block_scale="raw", show_progress=True)
    tokenizer = task.tokenizer
    examples = list(task.load_splits(config.seed).train)[: args.prompts]

    def prompts_forward() -> None:
        with torch.no_grad():
            for example in examples:
                model(**tokenizer(render_prompt(tokenizer, task.prompt(example)), return_tensors="pt"))

    # per module, the mean over prompt tokens of (V^T x)^2 per component: what block_scale=gain measures
    energy = input_energy(model, allocator.bases, prompts_forward)
    gradients = reference_gradients(model, task, examples, targets) if hasattr(task, "reference") else None
    factors = gain_factors(allocator.bases, energy, config.r)

    r = config.r
    out: dict[str, list[float]] = {"activation": [], "raw": [], "matched": [], "grad_matched": [], "grad_gain": []}
    for k in range(args.rounds):
        share, raw, matched, grad_matched, grad_gain = [], [], [], [], []
        for name in targets:
            basis = allocator.bases[name]
            e = energy[name]
            block, top = slice(k * r, (k + 1) * r), slice(0, r)
            act_k, act_0 = e[block].sum().sqrt(), e[top].sum().sqrt()
            s = basis.S.double()
            raw_k, raw_0 = (e[block] * s[block] ** 2).sum().sqrt(), (e[top] * s[top] ** 2).sum().sqrt()
            ratio_scale = s[top].mean() / s[block].mean()  # matched rescales block k to the top block's mean
            share.append(float(act_k / act_0))
            raw.append(float(raw_k / raw_0))
            matched.append(float(raw_k * ratio_scale / raw_0))
            if gradients is not None:
                G = gradients[name].double()
                U, V = basis.U.double(), basis.V.double()
                core = [(s[b, None] * (U[:, b].T @ G @ V[:, b])).norm() for b in (block, top)]
                grad_matched.append(float(core[0] * ratio_scale / core[1]))
                grad_gain.append(float(core[0] * factors[name][k] / core[1]))
        out["activation"].append(statistics.median(share))
        out["raw"].append(statistics.median(raw))
        out["matched"].append(statistics.median(matched))
        out["grad_matched"].append(statistics.median(grad_matched) if grad_matched else float("nan"))
        out["grad_gain"].append(statistics.median(grad_gain) if grad_gain else float("nan"))
    print(f"{task.name}: {len(examples)} training prompts, {len(targets)} modules, r={r}; medians over modules")
    print("| block | activation share | gain, raw scale | gain, matched scale | core gradient, matched | core gradient, gain |")
    print("|---|---|---|---|---|---|")
    for k in range(args.rounds):
        print(f"| {k} | {out['activation'][k]:.3f} | {out['raw'][k]:.3f} | {out['matched'][k]:.3f} | "
              f"{out['grad_matched'][k]:.3f} | {out['grad_gain'][k]:.3f} |")
    return out


def reference_gradients(model: torch.nn.Module, task: object, examples: list, targets: list[str]) -> dict[str, torch.Tensor]:
    """Gradient of the mean cross-entropy of the reference answers with respect to every target weight."""
    weights = {name: model.get_submodule(name).weight for name in targets}
    for w in weights.values():
        w.requires_grad_(True)
    batch = sft_batch(task.tokenizer, [task.prompt(ex) for ex in examples], [task.reference(ex) for ex in examples], 256)
    model(**batch).loss.backward()
    grads = {name: w.grad.detach().float() for name, w in weights.items()}
    for w in weights.values():
        w.requires_grad_(False)
        w.grad = None
    return grads


if __name__ == "__main__":
    main()
