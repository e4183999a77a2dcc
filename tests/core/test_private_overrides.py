"""boostlora replaces private methods of peft and TRL; these tests fail, naming the method, when a release changes
them, and check that the installed versions are inside the bounds pyproject.toml declares."""

from __future__ import annotations

import inspect
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from boostlora import BoostLoraError
from boostlora.method import adapter

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]


def declared(name: str) -> Requirement:
    requirements = PYPROJECT["dependencies"] + [r for extra in PYPROJECT["optional-dependencies"].values() for r in extra]
    found = [Requirement(r) for r in requirements if Requirement(r).name == name]
    assert found, f"pyproject.toml does not declare {name}"
    return found[0]


@pytest.mark.parametrize("package", ["peft", "trl"])
def test_packages_whose_private_methods_we_replace_have_an_upper_bound_we_are_inside(package):
    requirement = declared(package)
    assert any(spec.operator in ("<", "<=") for spec in requirement.specifier), f"{requirement} has no upper bound"
    assert requirement.specifier.contains(version(package)), f"installed {package} {version(package)} is outside {requirement}"


def test_peft_tinylora_init_svd_is_the_method_we_replace():
    from peft.tuners.tinylora.layer import TinyLoraLayer

    assert hasattr(TinyLoraLayer, "_init_svd"), "peft removed TinyLoraLayer._init_svd, which core/adapter.py replaces"
    parameters = tuple(inspect.signature(TinyLoraLayer._init_svd).parameters)
    assert parameters == adapter.PEFT_INIT_SVD_PARAMETERS, f"peft changed TinyLoraLayer._init_svd{parameters}"
    for attribute in ("tinylora_A", "tinylora_B", "r"):  # what the stand-in fills
        assert attribute in inspect.getsource(TinyLoraLayer), f"peft's TinyLoraLayer no longer has {attribute}"


def test_a_changed_peft_method_is_one_clear_error(monkeypatch):
    from peft.tuners.tinylora.layer import TinyLoraLayer

    monkeypatch.setattr(TinyLoraLayer, "_init_svd", lambda self, adapter_name, r: None)
    with pytest.raises(BoostLoraError, match=r"peft .* changed TinyLoraLayer._init_svd .*found self, adapter_name, r\)"):
        adapter.check_peft_init_svd()


def test_trl_generate_and_score_completions_is_the_method_we_extend():
    from trl import GRPOTrainer

    method = getattr(GRPOTrainer, "_generate_and_score_completions", None)
    assert method is not None, "TRL removed GRPOTrainer._generate_and_score_completions (core/objectives/grpo.py)"
    assert tuple(inspect.signature(method).parameters) == ("self", "inputs"), "TRL changed its parameters"
    # the keys our dynamic-sampling override rewrites must be the ones TRL's loss reads
    loss = inspect.getsource(GRPOTrainer._compute_loss)
    for key in ("advantages", "completion_mask", "num_items_in_batch"):
        assert f'inputs["{key}"]' in loss, f"TRL's GRPOTrainer._compute_loss no longer reads inputs['{key}']"


def test_trl_methods_the_grpo_round_clock_times_exist():
    """core/objectives/grpo_timing.py times these GRPOTrainer methods; a rename would silently time nothing."""
    from trl import GRPOTrainer

    for name in ("training_step", "_generate_and_score_completions", "_get_per_token_logps_and_entropies", "_calculate_rewards"):
        assert callable(getattr(GRPOTrainer, name, None)), f"TRL removed GRPOTrainer.{name} (core/objectives/grpo_timing.py)"
    # generation and scoring run inside training_step (via _prepare_inputs), which the split relies on
    assert "_generate_and_score_completions" in inspect.getsource(GRPOTrainer._prepare_inputs)
