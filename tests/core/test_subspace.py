"""The allocator: truncated SVD accuracy, orthogonal blocks, scaling, capacity refusal, and the cache."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from boostlora.method import subspace
from boostlora.foundation.errors import ConfigError
from boostlora.method.subspace import SubspaceAllocator, truncated_svd


def decaying_matrix(out: int = 96, inp: int = 128, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    U, _ = torch.linalg.qr(torch.randn(out, out, generator=g))
    V, _ = torch.linalg.qr(torch.randn(inp, inp, generator=g))
    s = torch.exp(-torch.arange(min(out, inp), dtype=torch.float32) / 12)
    return U[:, : s.numel()] @ torch.diag(s) @ V[:, : s.numel()].T


def flat_spectrum_matrix(out: int = 96, inp: int = 128, seed: int = 0) -> torch.Tensor:
    """Close neighbouring singular values: where a randomized SVD mixes up blocks."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(out, inp, generator=g) / inp**0.5


def test_default_blocks_are_the_exact_svd_blocks():
    w = flat_spectrum_matrix()
    U, S, Vh = torch.linalg.svd(w.double(), full_matrices=False)
    basis = truncated_svd(w, 12)
    assert torch.allclose(basis.S.double(), S[:12], rtol=1e-5)
    for k in range(6):  # every rotate block spans the exact block: |cos| of principal angles all ~1
        block = slice(2 * k, 2 * k + 2)
        cosines = torch.linalg.svdvals(basis.U[:, block].double().T @ U[:, block])
        assert cosines.min() > 0.999, (k, cosines)


def test_leading_components_do_not_depend_on_how_many_are_asked_for():
    w = flat_spectrum_matrix(seed=3)
    short, long = truncated_svd(w, 2), truncated_svd(w, 16)
    assert torch.equal(short.U, long.U[:, :2]) and torch.equal(short.V, long.V[:, :2]) and torch.equal(short.S, long.S[:2])


def test_lowrank_that_misses_the_exact_blocks_falls_back_to_the_exact_svd(caplog):
    w = flat_spectrum_matrix(seed=1)
    exact = truncated_svd(w, 8, "full")
    assert subspace.triplet_residual(w, exact) < 1e-5
    U, S, V = torch.svd_lowrank(w, q=8, niter=0)  # what a randomized SVD without oversampling returns here
    assert subspace.triplet_residual(w, subspace.canonical_signs(U, S, V)) > subspace.LOWRANK_TOLERANCE
    with caplog.at_level("WARNING", logger="boostlora.method.subspace"):
        checked = truncated_svd(w, 8, "lowrank")
    assert torch.equal(checked.U, exact.U) and torch.equal(checked.S, exact.S)
    assert "using the exact SVD" in caplog.text


def test_unknown_svd_method_is_refused():
    with pytest.raises(ConfigError, match="unknown svd method 'auto'"):
        truncated_svd(decaying_matrix(), 4, "auto")


def test_lowrank_svd_matches_full_on_a_decaying_spectrum():
    w = decaying_matrix()
    full = truncated_svd(w, 16, "full")
    fast = truncated_svd(w, 16, "lowrank")
    assert torch.allclose(fast.S, full.S, rtol=1e-4)
    eye = torch.eye(16)
    assert torch.allclose(fast.U.T @ fast.U, eye, atol=1e-5)
    assert torch.allclose(fast.V.T @ fast.V, eye, atol=1e-5)
    # the same subspaces: projections agree
    assert torch.allclose(fast.U @ fast.U.T, full.U @ full.U.T, atol=1e-3)


def model_with(*shapes: tuple[int, int]) -> nn.Module:
    torch.manual_seed(0)
    return nn.ModuleDict({f"m{i}": nn.Linear(i_, o, bias=False) for i, (o, i_) in enumerate(shapes)})


def test_rotate_blocks_are_mutually_orthogonal_and_top_repeats():
    model = model_with((24, 40))
    rot = SubspaceAllocator.from_model(model, ["m0"], strategy="rotate", r=2, max_rounds=5, block_scale="raw")
    blocks = [rot.directions("m0", k) for k in range(5)]
    for i in range(5):
        for j in range(5):
            gram = blocks[i][0].T @ blocks[j][0]
            expected = torch.eye(2) if i == j else torch.zeros(2, 2)
            assert torch.allclose(gram, expected, atol=1e-5), (i, j)
    top = SubspaceAllocator.from_model(model, ["m0"], strategy="top", r=2, max_rounds=5, block_scale="raw")
    assert torch.equal(top.directions("m0", 0)[0], top.directions("m0", 4)[0])
    assert top.bases["m0"].components == 2  # top computes only what it can use


def test_raw_blocks_shrink_down_the_spectrum_matched_blocks_do_not():
    model = model_with((24, 40))
    raw = SubspaceAllocator.from_model(model, ["m0"], strategy="rotate", r=2, max_rounds=6, block_scale="raw")
    matched = SubspaceAllocator(raw.bases, "rotate", 2, "matched")
    S = raw.bases["m0"].S
    B_raw, A = raw.block("m0", 5)
    assert torch.allclose(B_raw.norm(dim=0), S[10:12], rtol=1e-5)
    assert torch.allclose(A @ A.T, torch.eye(2), atol=1e-5)
    B_matched, _ = matched.block("m0", 5)
    assert torch.allclose(B_matched.norm(dim=0).mean(), S[:2].mean(), rtol=1e-5)
    assert B_matched.norm(dim=0).mean() > 1.5 * B_raw.norm(dim=0).mean()


def test_capacity_is_checked_before_any_svd(monkeypatch):
    model = model_with((64, 64), (8, 32))
    monkeypatch.setattr(subspace, "truncated_svd", lambda *a, **k: pytest.fail("SVD ran before the capacity check"))
    with pytest.raises(ConfigError, match=r"5\*2 = 10 exceeds the rank .* m1 8x32 .* max_rounds <= 4"):
        SubspaceAllocator.from_model(model, ["m0", "m1"], strategy="rotate", r=2, max_rounds=5, block_scale="raw")


def test_cache_is_reused_exactly_and_only_for_the_weights_it_came_from(tmp_path, monkeypatch):
    from boostlora.runs import svd_cache

    model, names = model_with((24, 40), (16, 24)), ["m0", "m1"]
    cache = tmp_path / "svd.safetensors"
    identity = svd_cache.SvdIdentity.of(model, "net", names, "rotate", 2, "full")
    first = svd_cache.bases_for_run(model, names, identity, 3, cache)
    assert cache.exists()
    exact = svd_cache.truncated_svd
    monkeypatch.setattr(svd_cache, "truncated_svd", lambda *a, **k: pytest.fail("recomputed despite the cache"))
    again = svd_cache.bases_for_run(model, names, identity, 3, cache)
    for name in names:
        for field in ("U", "S", "V"):
            assert torch.equal(getattr(first[name], field), getattr(again[name], field))
    with torch.no_grad():
        model.m0.weight.add_(1e-3)  # other weights under the same name: the cache is not theirs
    monkeypatch.setattr(svd_cache, "truncated_svd", exact)
    other = svd_cache.SvdIdentity.of(model, "net", names, "rotate", 2, "full")
    assert other.weights_sha256 != identity.weights_sha256
    recomputed = svd_cache.bases_for_run(model, names, other, 3, cache)
    assert not torch.equal(recomputed["m0"].S, first["m0"].S)
