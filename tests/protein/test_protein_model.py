"""Model loading: random-init specs, local checkpoints, named checkpoints offline, and the pooled head."""

from __future__ import annotations

import urllib.error

import pytest
import torch

from boostlora import ConfigError
from boostlora_plugins.protein.encoding import ProteinExample
from boostlora_plugins.protein.model import (
    ESMClassifier,
    count_parameters,
    load_encoder,
    parse_random_spec,
    save_classifier,
)

from .conftest import CPU, TINY


def test_tiny_spec_builds_fair_esm_class_with_targets():
    encoder, head = load_encoder(TINY)
    assert type(encoder).__module__ == "esm.model.esm2" and type(encoder).__name__ == "ESM2"
    assert (encoder.num_layers, encoder.embed_dim, encoder.attention_heads) == (2, 16, 2)
    assert head == {}
    names = [n for n, m in encoder.named_modules() if isinstance(m, torch.nn.Linear)]
    for suffix in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "fc1", "fc2"):
        assert sum(n.endswith("." + suffix) for n in names) == 2


def test_random_spec_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, _ = load_encoder("random:layers=1,dim=8,heads=2,seed=5")
    after = torch.rand(1)
    b, _ = load_encoder("random:layers=1,dim=8,heads=2,seed=5")
    c, _ = load_encoder("random:layers=1,dim=8,heads=2,seed=6")
    assert torch.equal(before, after)
    assert torch.equal(a.layers[0].fc1.weight, b.layers[0].fc1.weight)
    assert not torch.equal(a.layers[0].fc1.weight, c.layers[0].fc1.weight)


@pytest.mark.parametrize("spec", ["random:layers=2,dim=15,heads=2", "random:depth=2", "random:layers=x", "random:dim=6,heads=2"])
def test_bad_random_specs_are_refused(spec):
    with pytest.raises(ConfigError, match="random"):
        parse_random_spec(spec)


def test_unknown_name_lists_what_is_accepted():
    with pytest.raises(ConfigError, match="esm2_t6_8M_UR50D.*tiny-random-esm2"):
        load_encoder("esm3_large")


def test_named_checkpoint_offline_says_where_to_put_it(monkeypatch, tmp_path):
    import esm

    def offline(name):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(esm.pretrained, "load_model_and_alphabet", offline)
    with pytest.raises(ConfigError) as err:
        load_encoder("esm2_t6_8M_UR50D")
    message = str(err.value)
    assert str(tmp_path / "hub" / "checkpoints") in message and "esm2_t6_8M_UR50D.pt" in message
    assert "\n" not in message


def test_named_checkpoint_is_read_from_the_hub_cache(monkeypatch, tmp_path):
    """A cached file is used without touching the network, in fair-esm's own checkpoint layout."""
    import esm

    source = ESMClassifier(load_encoder("random:layers=1,dim=8,heads=2")[0])
    save_classifier(source, tmp_path / "x")
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (tmp_path / "x" / "model.pt").rename(cache / "esm2_t6_8M_UR50D.pt")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(esm.pretrained, "load_model_and_alphabet", lambda name: pytest.fail("tried to download"))
    encoder, _ = load_encoder("esm2_t6_8M_UR50D")
    assert torch.equal(encoder.layers[0].fc2.weight, source.encoder.layers[0].fc2.weight)


def test_saved_model_round_trips_with_its_head(tmp_path):
    model = ESMClassifier(load_encoder(TINY)[0])
    with torch.no_grad():
        model.head.weight.normal_()
        model.encoder.layers[1].fc1.weight.add_(1.0)
    save_classifier(model, tmp_path / "final")
    for spec in (str(tmp_path / "final"), str(tmp_path / "final" / "model.pt")):
        encoder, head = load_encoder(spec)
        assert torch.equal(encoder.layers[1].fc1.weight, model.encoder.layers[1].fc1.weight)
        assert torch.equal(head["weight"], model.head.weight)


def test_missing_or_foreign_pt_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_encoder(str(tmp_path / "nope.pt"))
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="not an ESM2 checkpoint"):
        load_encoder(str(tmp_path / "other.pt"))


def test_pooling_skips_bos_eos_and_padding(make_task):
    task, model = make_task()
    short, long = ProteinExample("ACDEFG", 0), ProteinExample("ACDEFGHIKLMNPQ", 1)
    tokens, pool = task.encoder.batch([short, long], CPU)
    alone, alone_pool = task.encoder.batch([short], CPU)
    assert tokens.shape == (2, 16) and pool.sum(1).tolist() == [6, 14]
    with torch.no_grad():
        padded = model.pooled(tokens, pool)[0]
        single = model.pooled(alone, alone_pool)[0]
    assert torch.allclose(padded, single, atol=1e-5)


def test_head_parameter_count_is_reported(make_task):
    task, model = make_task(synthetic_size=40)
    splits = task.load_splits(0)
    task.prepare(model, splits)
    assert task.head_params == 16 + 1
    assert count_parameters(model.head) == 2 * (16 + 1)
    metrics = task.evaluate(model, splits.eval).metrics
    assert metrics["head_params"] == 17.0
