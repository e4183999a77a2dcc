"""Fit the classification head once, on frozen pooled features, before any boosting round.

Why a probe first: the round adapters hold a handful of numbers each and are merged into the encoder; a head
left at zero would make every example a failure and give the first round nothing but a bias to learn. A
linear probe is also the paper's baseline, so the base evaluation of a run *is* the linear-probe score and
every round's gain is measured against it. The head is then frozen: rounds change only the encoder.

``logistic`` (default): scikit-learn's L2 logistic regression on standardised features (convex, so the
same features always give the same head). ``cross_entropy``: 300 full-batch Adam steps on the same
objective (softmax cross-entropy plus the same L2 penalty, weight decay 1/(C n)), as a cross-check that
needs no scikit-learn solver. Either way the standardisation is folded into one ``nn.Linear``.
Measured in ``benchmarks/protein_head.py``: see the plugin README.

Parameter count, honestly: a binary logistic probe has ``dim + 1`` free numbers (class 0's row is fixed at
zero), a multinomial or cross-entropy head ``num_classes * (dim + 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

HEAD_MODES = ("logistic", "cross_entropy")


def fit_head(
    features: torch.Tensor, labels: Sequence[int], num_classes: int, mode: str, strength: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Head weight (num_classes, dim) and bias (num_classes,) fitted on ``features`` (n, dim)."""
    x = features.detach().double().cpu()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    z = (x - mean) / std
    y = torch.as_tensor(list(labels), dtype=torch.long)
    if mode == "logistic":
        weight, bias = _logistic(z, y, num_classes, strength, seed)
    elif mode == "cross_entropy":
        weight, bias = _cross_entropy(z, y, num_classes, strength, seed)
    else:
        raise ValueError(f"unknown head mode {mode!r}")
    folded = weight / std
    return folded.float(), (bias - folded @ mean).float()


def head_parameter_count(mode: str, dim: int, num_classes: int) -> int:
    """Numbers the probe fitted (see module docstring)."""
    if mode == "logistic" and num_classes == 2:
        return dim + 1
    return num_classes * (dim + 1)


def _logistic(z: torch.Tensor, y: torch.Tensor, num_classes: int, c: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.linear_model import LogisticRegression

    weight = torch.zeros(num_classes, z.shape[1], dtype=torch.float64)
    bias = torch.zeros(num_classes, dtype=torch.float64)
    present = sorted(set(y.tolist()))
    if len(present) < 2:  # one class only: a constant head that predicts it
        bias[present[0]] = 1.0
        return weight, bias
    probe = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(z.numpy(), y.numpy())
    coef = torch.as_tensor(probe.coef_, dtype=torch.float64)
    intercept = torch.as_tensor(probe.intercept_, dtype=torch.float64)
    if coef.shape[0] == 1:  # binary: sklearn gives the class-1 logit; class 0 stays at zero
        weight[present[1]], bias[present[1]] = coef[0], intercept[0]
    else:
        weight[present], bias[present] = coef, intercept
    return weight, bias


def _cross_entropy(z: torch.Tensor, y: torch.Tensor, num_classes: int, c: float, seed: int, steps: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    weight = (torch.randn(num_classes, z.shape[1], generator=generator, dtype=torch.float64) * 0.01).requires_grad_()
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    # sklearn minimises C * sum(loss) + |w|^2 / 2, i.e. mean(loss) + |w|^2 / (2 C n): the same penalty here.
    groups = [{"params": [weight], "weight_decay": 1.0 / (c * len(y))}, {"params": [bias], "weight_decay": 0.0}]
    optimizer = torch.optim.Adam(groups, lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(z @ weight.T + bias, y).backward()
        optimizer.step()
    return weight.detach(), bias.detach()
