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

    python benchmarks/block_gain.py --plugin math --rounds 8
"""

from __future__ import annotations

import argparse
import statistics

import torch

from boostlora.adapter import resolve_targets
from boostlora.config import build_config, merge_settings
from boostlora.generation import render_prompt
from boostlora.plugins import find_task
from boostlora.subspace import SubspaceAllocator


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
    # sum over tokens of (V^T x)^2 per component, per module
    energy = {name: torch.zeros(allocator.bases[name].components, dtype=torch.float64) for name in targets}
    tokens = {name: 0 for name in targets}

    def recorder(name: str):
        V = allocator.bases[name].V

        def hook(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            x = inputs[0].detach().float().reshape(-1, V.shape[0])
            energy[name] += ((x @ V) ** 2).sum(dim=0).double()
            tokens[name] += x.shape[0]

        return hook

    handles = [model.get_submodule(name).register_forward_pre_hook(recorder(name)) for name in targets]
    tokenizer = task.tokenizer
    examples = list(task.load_splits(config.seed).train)[: args.prompts]
    with torch.no_grad():
        for example in examples:
            batch = tokenizer(render_prompt(tokenizer, task.prompt(example)), return_tensors="pt")
            model(**batch)
    for handle in handles:
        handle.remove()

    r = config.r
    out: dict[str, list[float]] = {"activation": [], "raw": [], "matched": []}
    for k in range(args.rounds):
        share, raw, matched = [], [], []
        for name in targets:
            basis = allocator.bases[name]
            e = energy[name] / max(tokens[name], 1)
            block, top = slice(k * r, (k + 1) * r), slice(0, r)
            act_k, act_0 = e[block].sum().sqrt(), e[top].sum().sqrt()
            s = basis.S.double()
            raw_k, raw_0 = (e[block] * s[block] ** 2).sum().sqrt(), (e[top] * s[top] ** 2).sum().sqrt()
            ratio_scale = s[top].mean() / s[block].mean()  # matched rescales block k to the top block's mean
            share.append(float(act_k / act_0))
            raw.append(float(raw_k / raw_0))
            matched.append(float(raw_k * ratio_scale / raw_0))
        out["activation"].append(statistics.median(share))
        out["raw"].append(statistics.median(raw))
        out["matched"].append(statistics.median(matched))
    print(f"{task.name}: {len(examples)} training prompts, {len(targets)} modules, r={r}; medians over modules")
    print("| block | activation share | gain, raw scale | gain, matched scale |")
    print("|---|---|---|---|")
    for k in range(args.rounds):
        print(f"| {k} | {out['activation'][k]:.3f} | {out['raw'][k]:.3f} | {out['matched'][k]:.3f} |")
    return out


if __name__ == "__main__":
    main()
