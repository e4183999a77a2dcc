"""A toy classification plugin, written against the public API exactly as a third party would.

The model is a frozen random two-layer linear classifier. The labels come from a teacher whose output layer
is the student's plus a perturbation spread over the top ``teacher_rank`` singular directions of the student's
original output weight. A rank-r round can fix only r of those directions, so one round cannot solve the task
under ``rotate``, several can, and ``top`` (always the first r directions) plateaus.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from boostlora import ConfigError, Splits, Task, Verdict, hookimpl

DIM, HIDDEN, CLASSES = 16, 16, 8


class ToyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(DIM, HIDDEN)
        self.out = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(x))


def build_student(seed: int) -> ToyNet:
    torch.manual_seed(seed)
    return ToyNet()


class ToyTask(Task):
    name = "toy"
    description = "teacher-student linear classification (test plugin)"
    default_model = "toy-net"
    default_targets = ("hidden", "out")
    default_objective = "cross_entropy"
    default_options = {"n_train": 512, "n_eval": 256, "n_validation": 256, "teacher_rank": 6, "strength": 2.5, "model_seed": 0}
    presets = {"default": {"max_rounds": 3}, "long": {"max_rounds": 5}}
    baseline_settings = {"default": {"full-ft": {"objective_options": {"lr": 0.01}}}}
    reference_results = {"default": {"boost-rotate": 0.75}}

    def load_model(self, model: str, device: torch.device) -> nn.Module:
        if model != "toy-net":
            raise ConfigError(f"toy task only knows model 'toy-net', not '{model}'")
        return build_student(self.options["model_seed"]).to(device)

    def teacher_weight(self) -> torch.Tensor:
        student = build_student(self.options["model_seed"])
        W = student.out.weight.detach()
        U, S, Vh = torch.linalg.svd(W, full_matrices=False)
        k = self.options["teacher_rank"]
        g = torch.Generator().manual_seed(1234)
        core = torch.block_diag(*[torch.randn(2, 2, generator=g) for _ in range(k // 2)])
        return W + self.options["strength"] * S[0] * U[:, :k] @ core @ Vh[:k]

    def load_splits(self, seed: int) -> Splits:
        g = torch.Generator().manual_seed(seed)
        n_train, n_eval, n_validation = self.options["n_train"], self.options["n_eval"], self.options["n_validation"]
        x = torch.randn(n_train + n_eval, DIM, generator=g)
        x_validation = torch.randn(n_validation, DIM, generator=g)  # drawn after: train and eval stay as they were
        examples = self.label(x)
        validation = self.label(x_validation) if n_validation else None  # 0: the run carves validation from train
        return Splits(train=examples[:n_train], eval=examples[n_train:], validation=validation)

    def label(self, x: torch.Tensor) -> list:
        student = build_student(self.options["model_seed"])
        with torch.no_grad():
            labels = (student.hidden(x) @ self.teacher_weight().T + student.out.bias).argmax(-1)
        return [(x[i], int(labels[i])) for i in range(len(x))]

    def predict(self, model: nn.Module, examples: Sequence) -> list[int]:
        weight = model.out.weight  # the run may load the model in bfloat16, or on a GPU
        x = torch.stack([ex[0] for ex in examples]).to(weight.device, weight.dtype)
        return model(x).argmax(-1).tolist()

    def oracle(self, example, prediction) -> Verdict:
        return Verdict(prediction == example[1])

    def loss(self, model: nn.Module, examples: Sequence) -> torch.Tensor:
        weight = model.out.weight
        x = torch.stack([ex[0] for ex in examples]).to(weight.device, weight.dtype)
        y = torch.tensor([ex[1] for ex in examples], device=weight.device)
        return F.cross_entropy(model(x), y)


class EmptyTask(ToyTask):
    name = "empty"
    description = "a task whose training split is empty (bad-input test)"
    presets = {}

    def load_splits(self, seed: int) -> Splits:
        splits = super().load_splits(seed)
        return Splits(train=[], eval=splits.eval)


class OwnEvaluateTask(ToyTask):
    """A task with its own ``evaluate`` (as the code plugin has): it must be the one used, also across processes.

    It records the size of every batch it judges and adds two metrics that only it can produce: a mean
    (``own_evaluate``) and a count (``judged``), which ``merge_metrics`` adds up across shards.
    """

    name = "own-evaluate"
    presets = {}
    batches: list[int] = []

    def evaluate(self, model, examples):
        self.batches.append(len(examples))
        result = super().evaluate(model, examples)
        result.metrics.update({"own_evaluate": 1.0, "judged": float(len(examples))})
        return result

    def merge_metrics(self, examples, predictions, verdicts, shards):
        merged = super().merge_metrics(examples, predictions, verdicts, shards)
        merged["judged"] = sum(m["judged"] for _, m in shards)
        return merged


@hookimpl
def boostlora_register_tasks(register) -> None:
    register(ToyTask)
    register(EmptyTask)
    register(OwnEvaluateTask)
