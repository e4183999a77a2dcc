"""Load an ESM2 encoder and wrap it with a classification head, as one module the boosting loop can adapt.

Three ways in, all ending in fair-esm's own ``esm.model.esm2.ESM2`` class so tests exercise the same code
path as real runs:

- a named checkpoint (``esm2_t6_8M_UR50D`` ... ``esm2_t33_650M_UR50D``): read from torch hub's cache when
  present, otherwise downloaded by ``esm.pretrained``; offline, a ConfigError says where to put the file;
- a local ``.pt`` file in fair-esm's checkpoint format (or one written by ``save_classifier``);
- a random-init spec for tests and smoke runs, ``random:layers=2,dim=16,heads=2[,seed=0]``, or the alias
  ``tiny-random-esm2``. Random weights carry no protein knowledge: use them only to check the machinery.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from boostlora import ConfigError

#: Checkpoints fair-esm knows by name (``esm.pretrained``); the first four are the sizes the plugin is tested for.
ESM2_NAMES = (
    "esm2_t6_8M_UR50D",
    "esm2_t12_35M_UR50D",
    "esm2_t30_150M_UR50D",
    "esm2_t33_650M_UR50D",
    "esm2_t36_3B_UR50D",
    "esm2_t48_15B_UR50D",
)
#: Test-only shorthands for random-init specs.
RANDOM_ALIASES = {
    "tiny-random-esm2": "random:layers=2,dim=16,heads=2",
    "random-esm2-8m-shape": "random:layers=6,dim=320,heads=20",
}
RANDOM_PREFIX = "random:"
#: Tokens ESM2 was trained with (BOS and EOS included); sequences are cropped to fit.
ESM2_MAX_TOKENS = 1024
#: File name ``save_classifier`` writes inside a model directory.
SAVED_NAME = "model.pt"
HEAD_KEY = "classifier_head"


class ESMClassifier(nn.Module):
    """ESM2 encoder -> mean over residue positions -> linear head.

    Mean pooling skips BOS, EOS and padding (and, for pairs, the linker: pass ``pool_mask``). The head reads
    the final layer-normed representation. Keeping encoder and head in one module lets the loop's adapter
    reach every ``nn.Linear`` in the encoder by name suffix while the head stays outside the targets.
    """

    def __init__(self, encoder: nn.Module, num_classes: int = 2) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.embed_dim, num_classes)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        from esm.rotary_embedding import RotaryEmbedding

        self._rotary = [m for m in encoder.modules() if isinstance(m, RotaryEmbedding)]

    def _forget_inference_tables(self) -> None:
        """Drop rotary cos/sin tables built under ``torch.inference_mode``.

        fair-esm caches them per sequence length; a table made during the loop's evaluation pass is an
        inference tensor, and reusing it in a training step fails ("Inference tensors cannot be saved for
        backward"). Rebuilding one costs a few microseconds.
        """
        for rotary in self._rotary:
            cached = rotary._cos_cached
            if cached is not None and cached.is_inference():
                rotary._seq_len_cached = None

    @property
    def alphabet(self) -> Any:
        return self.encoder.alphabet

    def pooled(self, tokens: torch.Tensor, pool_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Mean of the last layer's residue representations, shape (batch, embed_dim), in fp32."""
        if not torch.is_inference_mode_enabled():
            self._forget_inference_tables()
        layer = self.encoder.num_layers
        hidden = self.encoder(tokens, repr_layers=[layer])["representations"][layer]
        if pool_mask is None:
            pool_mask = residue_mask(tokens, self.alphabet)
        weights = pool_mask.to(torch.float32).unsqueeze(-1)
        total = (hidden.float() * weights).sum(dim=1)
        return total / weights.sum(dim=1).clamp_min(1.0)

    def forward(self, tokens: torch.Tensor, pool_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits, shape (batch, num_classes), in fp32 even under autocast."""
        pooled = self.pooled(tokens, pool_mask)
        return nn.functional.linear(pooled, self.head.weight.float(), self.head.bias.float())


def residue_mask(tokens: torch.Tensor, alphabet: Any) -> torch.Tensor:
    """True at residue positions: not BOS (``<cls>``), EOS or padding."""
    special = (tokens == alphabet.padding_idx) | (tokens == alphabet.cls_idx) | (tokens == alphabet.eos_idx)
    return ~special


def load_encoder(spec: str) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """An ``ESM2`` from a checkpoint name, a local ``.pt`` path or a random-init spec (see module docstring).

    Also returns the classifier head's tensors when the file carries one (a model saved by this plugin),
    else an empty mapping.
    """
    spec = RANDOM_ALIASES.get(spec, spec)
    if spec.startswith(RANDOM_PREFIX):
        return build_random_encoder(**parse_random_spec(spec)), {}
    path = Path(spec).expanduser()
    if path.is_dir() and (path / SAVED_NAME).is_file():
        path = path / SAVED_NAME
    if spec.endswith(".pt") or path.exists():
        if not path.is_file():
            raise ConfigError(f"model file {path} does not exist (give an ESM2 .pt checkpoint, a name such as esm2_t6_8M_UR50D, or tiny-random-esm2)")
        return read_checkpoint(path)
    if spec in ESM2_NAMES:
        return load_named(spec), {}
    raise ConfigError(
        f"unknown protein model '{spec}': use an ESM2 name ({', '.join(ESM2_NAMES[:4])}, ...), "
        f"a local .pt path, or a test-only random spec such as tiny-random-esm2 or random:layers=2,dim=16,heads=2"
    )


def parse_random_spec(spec: str) -> dict[str, int]:
    """``random:layers=2,dim=16,heads=2,seed=0`` -> keyword arguments of ``build_random_encoder``."""
    fields = {"layers": 2, "dim": 16, "heads": 2, "seed": 0}
    body = spec[len(RANDOM_PREFIX):]
    for part in filter(None, body.split(",")):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in fields or not re.fullmatch(r"\d+", value.strip()):
            raise ConfigError(f"bad random model spec '{spec}': expected random:layers=N,dim=N,heads=N[,seed=N]")
        fields[key] = int(value)
    if fields["layers"] < 1 or fields["heads"] < 1 or fields["dim"] % fields["heads"]:
        raise ConfigError(f"bad random model spec '{spec}': need layers >= 1 and dim divisible by heads")
    if (fields["dim"] // fields["heads"]) % 2:
        raise ConfigError(f"bad random model spec '{spec}': dim/heads must be even (rotary embeddings)")
    return fields


def build_random_encoder(layers: int, dim: int, heads: int, seed: int = 0) -> nn.Module:
    """A randomly initialised ESM2 of the given shape, seeded without disturbing the global RNG."""
    from esm.model.esm2 import ESM2

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ESM2(num_layers=layers, embed_dim=dim, attention_heads=heads, alphabet="ESM-1b", token_dropout=True)


def hub_checkpoint_path(name: str) -> Path:
    """Where fair-esm (through torch hub) keeps a downloaded checkpoint."""
    return Path(torch.hub.get_dir()) / "checkpoints" / f"{name}.pt"


def load_named(name: str) -> nn.Module:
    """A named ESM2 checkpoint: from the torch hub cache if present, else downloaded by ``esm.pretrained``."""
    cached = hub_checkpoint_path(name)
    if cached.is_file():
        return read_checkpoint(cached)[0]
    import esm

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # contact-regression weights: not used for classification
            model, _alphabet = esm.pretrained.load_model_and_alphabet(name)
    except Exception as exc:  # urllib errors, hub errors: all mean "the file is not here"
        raise ConfigError(
            f"cannot load {name}: not in {cached.parent} and the download failed ({exc.__class__.__name__}); "
            f"offline, copy {name}.pt into {cached.parent} (TORCH_HOME moves it) or pass --model /path/to/{name}.pt"
        ) from exc
    return model


def read_checkpoint(path: Path) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """An ESM2 from a fair-esm format ``.pt`` file: ``{"cfg": {"model": ...}, "model": state_dict}``.

    fair-esm's own local loader insists on a co-located contact-regression file and on ``torch.load`` with
    pickled config objects; reading the two fields ourselves needs neither. The file is unpickled
    (``weights_only=False``) because fair-esm stores its config as Python objects: load only files you trust.
    """
    from esm.model.esm2 import ESM2

    try:
        data = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ConfigError(f"cannot read {path} as a torch checkpoint ({exc.__class__.__name__}: {exc})".splitlines()[0]) from exc
    if not isinstance(data, dict) or "model" not in data or "cfg" not in data:
        raise ConfigError(f"{path} is not an ESM2 checkpoint (expected keys 'cfg' and 'model' as fair-esm writes them)")
    cfg = data["cfg"]["model"]
    get = (lambda k: cfg[k]) if isinstance(cfg, dict) else (lambda k: getattr(cfg, k))
    try:
        encoder = ESM2(
            num_layers=int(get("encoder_layers")),
            embed_dim=int(get("encoder_embed_dim")),
            attention_heads=int(get("encoder_attention_heads")),
            alphabet="ESM-1b",
            token_dropout=bool(get("token_dropout")),
        )
    except (KeyError, AttributeError) as exc:
        raise ConfigError(f"{path} has no ESM2 config field {exc}: only ESM2 checkpoints are supported") from exc
    state = {re.sub(r"^(encoder\.sentence_encoder\.|encoder\.)", "", k): v for k, v in data["model"].items()}
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("contact_head.")]
    if missing or unexpected:
        raise ConfigError(f"{path} does not match the ESM2 shape in its config (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return encoder, dict(data.get(HEAD_KEY) or {})


def save_classifier(model: ESMClassifier, directory: Path) -> Path:
    """Write ``directory/model.pt``: the encoder in fair-esm's layout plus the head, loadable with ``--model``."""
    directory.mkdir(parents=True, exist_ok=True)
    data = checkpoint_dict(model.encoder)
    data[HEAD_KEY] = {k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()}
    target = directory / SAVED_NAME
    torch.save(data, str(target))
    return target


def checkpoint_dict(encoder: nn.Module) -> dict[str, Any]:
    """The encoder in fair-esm's checkpoint layout, so ``read_checkpoint`` (and ``--model``) can load it back."""
    cfg = {
        "encoder_layers": encoder.num_layers,
        "encoder_embed_dim": encoder.embed_dim,
        "encoder_attention_heads": encoder.attention_heads,
        "token_dropout": encoder.token_dropout,
    }
    state = {k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}
    return {"cfg": {"model": cfg}, "model": state}


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
