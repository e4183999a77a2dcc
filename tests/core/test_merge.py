"""The merge protocol on a tiny random-init Llama: exact rank growth, faithful merges, a plain model after."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from boostlora.method.adapter import ADAPTER_NAME, attach_round_adapter, resolve_targets
from boostlora.foundation.errors import ConfigError, MergeError
from boostlora.method.merge import RankLedger, apply_core, merge_round, numerical_rank, replay_round
from boostlora.method.subspace import SubspaceAllocator

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
R = 2


def tiny_llama(dtype: torch.dtype = torch.float32) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    )
    return LlamaForCausalLM(config).to(dtype).eval()


def train_randomly(adapter, seed: int, scale: float = 0.5) -> None:
    """Stand-in for an objective: give v random non-zero values (what training would do)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in adapter.trainable:
            p.copy_(torch.randn(p.shape, generator=g) * scale)


def boost_rounds(model, strategy: str, rounds: int, u: int = 4, tying: float = 0.0):
    targets = resolve_targets(model, TARGETS)
    alloc = SubspaceAllocator.from_model(
        model, targets, strategy=strategy, r=R, max_rounds=rounds, block_scale="matched", method="full"
    )
    ledger = RankLedger(strategy, R)
    history = []
    for k in range(rounds):
        adapter = attach_round_adapter(model, targets, alloc, round_index=k, r=R, u=u, weight_tying=tying, seed=0)
        train_randomly(adapter, seed=k)
        result = merge_round(adapter, alloc, tolerance=1e-5, seed=k)
        model = result.model
        ledger.add(k, result.cores)
        history.append(result)
    return model, targets, alloc, ledger, history


def update_rank(before: dict[str, torch.Tensor], model, name: str, rtol: float = 1e-4) -> int:
    """Rank of W - W0 with a tolerance relative to its own largest singular value."""
    delta = model.get_submodule(name).weight.detach().double() - before[name].double()
    return numerical_rank(torch.linalg.svdvals(delta), rtol)


@pytest.mark.parametrize("rounds", [1, 3])
def test_rotate_grows_rank_by_r_every_round(rounds):
    model = tiny_llama()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model, targets, _, ledger, _ = boost_rounds(model, "rotate", rounds)
    weights = {name: before[name + ".weight"] for name in targets}
    for name in targets:
        assert ledger.numerical_rank(name) == rounds * R, name
        assert update_rank(weights, model, name) == rounds * R, name


def test_top_never_exceeds_r():
    model = tiny_llama()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    model, targets, _, ledger, _ = boost_rounds(model, "top", 4)
    for name in targets:
        assert ledger.numerical_rank(name) <= R
        assert update_rank({name: weights[name + ".weight"]}, model, name) <= R


def test_merged_model_matches_adapted_model_and_is_plain():
    model = tiny_llama()
    base_shapes = {k: v.shape for k, v in model.state_dict().items()}
    targets = resolve_targets(model, TARGETS)
    alloc = SubspaceAllocator.from_model(model, targets, strategy="rotate", r=R, max_rounds=2, block_scale="raw")
    ids = torch.randint(0, 64, (3, 10), generator=torch.Generator().manual_seed(1))
    adapter = attach_round_adapter(model, targets, alloc, round_index=1, r=R, u=3, weight_tying=0.0, seed=0)
    with torch.no_grad():
        assert torch.equal(adapter.model(ids).logits, model(ids).logits)  # v = 0: an exact no-op
    train_randomly(adapter, seed=3)
    with torch.no_grad():
        adapted = adapter.model(ids).logits.clone()
    merged = merge_round(adapter, alloc, tolerance=1e-5).model
    with torch.no_grad():
        plain = merged(ids).logits
    assert (plain - adapted).abs().max().item() < 1e-5
    assert {k: v.shape for k, v in merged.state_dict().items()} == base_shapes
    assert type(merged) is LlamaForCausalLM
    for name, module in merged.named_modules():
        assert type(module).__module__.split(".")[0] != "peft", name
        assert not any(key.startswith("tinylora") for key, _ in module.named_buffers(recurse=False))


def test_trainable_count_follows_u_and_tying():
    model = tiny_llama()
    targets = resolve_targets(model, TARGETS)
    alloc = SubspaceAllocator.from_model(model, targets, strategy="rotate", r=R, max_rounds=1, block_scale="raw")
    untied = attach_round_adapter(model, targets, alloc, round_index=0, r=R, u=3, weight_tying=0.0, seed=0)
    assert untied.trainable_count == 3 * len(targets) == 3 * 14
    model = untied.model.unload()
    tied = attach_round_adapter(model, targets, alloc, round_index=0, r=R, u=12, weight_tying=1.0, seed=0)
    assert tied.trainable_count == 12


def test_replay_is_bit_identical_to_live_merge():
    model = tiny_llama()
    original = {k: v.clone() for k, v in model.state_dict().items()}
    model, targets, alloc, _, history = boost_rounds(model, "rotate", 3)
    replayed = tiny_llama()
    for k, result in enumerate(history):
        replay_round(replayed, alloc, k, result.cores)
    for key, value in model.state_dict().items():
        assert torch.equal(value, replayed.state_dict()[key]), key
    assert any(not torch.equal(original[n + ".weight"], model.state_dict()[n + ".weight"]) for n in targets)


@pytest.mark.parametrize("dtype,bound", [(torch.bfloat16, 2.0**-8), (torch.float16, 2.0**-11)])
def test_low_precision_merge_rounds_once(dtype, bound):
    """W <- cast(fp32(W) + dW): the stored weight is within half an ulp of the exact fp32 sum."""
    weight = torch.nn.Parameter(torch.randn(24, 16).to(dtype), requires_grad=False)
    exact_base = weight.detach().float().clone()
    U, _ = torch.linalg.qr(torch.randn(24, 2))
    V, _ = torch.linalg.qr(torch.randn(16, 2))
    core = torch.randn(2, 2) * 1e-2
    apply_core(weight, U, core, V)
    exact = exact_base + U @ core @ V.mT
    error = (weight.float() - exact).abs()
    assert (error <= bound * exact.abs() + 1e-30).all()


def test_merge_refuses_a_merge_that_does_not_reproduce_the_adapter(monkeypatch):
    model = tiny_llama()
    targets = resolve_targets(model, ["q_proj"])
    alloc = SubspaceAllocator.from_model(model, targets, strategy="rotate", r=R, max_rounds=2, block_scale="raw")
    adapter = attach_round_adapter(model, targets, alloc, round_index=0, r=R, u=4, weight_tying=0.0, seed=0)
    train_randomly(adapter, seed=0)
    # Sabotage: the adapter trains on block 0, but the merge is told the directions of block 1.
    monkeypatch.setattr(alloc, "directions", lambda name, k: SubspaceAllocator.directions(alloc, name, k + 1))
    with pytest.raises(MergeError, match="differs from the adapted layer"):
        merge_round(adapter, alloc, tolerance=1e-5)


def test_targets_that_match_nothing_or_are_not_linear_are_refused():
    model = tiny_llama()
    with pytest.raises(ConfigError, match="'qproj' matches nothing"):
        resolve_targets(model, ["qproj"])
    with pytest.raises(ConfigError, match="only nn.Linear"):
        resolve_targets(model, ["embed_tokens"])


def test_attaching_a_round_runs_no_svd(monkeypatch):
    """The allocator's one-time SVD is the only one: injection must not recompute peft's own."""
    model = tiny_llama()
    targets = resolve_targets(model, TARGETS)
    alloc = SubspaceAllocator.from_model(model, targets, strategy="rotate", r=R, max_rounds=2, block_scale="raw")

    def refuse(*args, **kwargs):
        raise AssertionError("an SVD ran while attaching a round")

    monkeypatch.setattr(torch.linalg, "svd", refuse)
    monkeypatch.setattr(torch, "svd_lowrank", refuse)
    adapter = attach_round_adapter(model, targets, alloc, round_index=1, r=R, u=2, weight_tying=0.0, seed=0)
    B, A = alloc.block(targets[0], 1)
    assert torch.equal(adapter.layers[targets[0]].tinylora_B[ADAPTER_NAME], B)
    assert torch.equal(adapter.layers[targets[0]].tinylora_A[ADAPTER_NAME], A)


@pytest.mark.parametrize("shared", [False, True])
def test_rounds_draw_their_own_projections_unless_shared(shared):
    """``projections=per_round`` (the default) seeds P by the round; ``shared`` gives every round round 0's P."""
    model = tiny_llama()
    targets = resolve_targets(model, TARGETS)
    alloc = SubspaceAllocator.from_model(model, targets, strategy="rotate", r=R, max_rounds=2, block_scale="matched")
    projections = []
    for k in range(2):
        adapter = attach_round_adapter(
            model, targets, alloc, round_index=k, r=R, u=4, weight_tying=0.0, seed=3,
            projection_round=0 if shared else None,
        )
        projections.append({n: layer.tinylora_P[ADAPTER_NAME].clone() for n, layer in adapter.layers.items()})
        model = adapter.model.unload()
    for name in targets:
        same = torch.equal(projections[0][name], projections[1][name])
        assert same is shared, name
