"""The SVD cache, tied to what it was computed from, and checked before it is used.

``svd.safetensors`` records in its metadata the model's name, a SHA-256 of the target weights it was computed
from, the targets, the strategy, r, the SVD method and the component count, plus a checksum of its tensors.
A file that is damaged, or that was computed for another model or other settings (a failed start under another
configuration leaves one behind), is recomputed, never used.

A checkpoint records the digest of the exact directions its rounds were merged on (``record``). On resume, a
cache is used only if it reproduces them; a missing or unusable cache is recomputed and must reproduce them
too, or the resume is refused: replaying the rounds on other directions would silently give another model.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import nn

from boostlora.foundation.digest import state_digest
from boostlora.foundation.distributed import weights_digest
from boostlora.foundation.errors import RunDirError
from boostlora.foundation.faults import fault_point
from boostlora.method.subspace import Basis, components_needed, truncated_svd
from boostlora.runs import checkpoint as ckpt

log = logging.getLogger("boostlora")

FORMAT = "boostlora-svd-2"


@dataclass(frozen=True)
class SvdIdentity:
    """What a set of bases was computed from and for."""

    model: str
    weights_sha256: str
    targets: tuple[str, ...]
    strategy: str
    r: int
    method: str

    @classmethod
    def of(cls, model: nn.Module, model_name: str, targets: list[str], strategy: str, r: int, method: str) -> SvdIdentity:
        return cls(model_name, weights_digest(model, targets), tuple(targets), strategy, r, method)

    def metadata(self) -> dict[str, str]:
        return {key: json.dumps(value) for key, value in asdict(self).items()}


def record(bases: dict[str, Basis], components: int | None = None) -> dict[str, Any]:
    """What a checkpoint records about the directions its rounds use: the first ``components`` of every basis."""
    n = min(b.components for b in bases.values()) if components is None else components
    prefix = {name: (b.U[:, :n], b.S[:n], b.V[:, :n]) for name, b in sorted(bases.items())}
    return {"components": n, "sha256": state_digest(prefix)}


def save(path: Path, bases: dict[str, Basis], identity: SvdIdentity) -> None:
    """Write bases with their identity and checksum, atomically."""
    from safetensors.torch import save

    tensors = {}
    for name, b in bases.items():
        tensors[f"{name}::U"] = b.U.detach().cpu().contiguous()
        tensors[f"{name}::S"] = b.S.detach().cpu().contiguous()
        tensors[f"{name}::V"] = b.V.detach().cpu().contiguous()
    metadata = {
        "format": FORMAT,
        **identity.metadata(),
        "components": str(min(b.components for b in bases.values())),
        "tensors_sha256": state_digest(tensors),
    }
    ckpt.write_bytes(path, save(tensors, metadata=metadata))


def read(path: Path) -> tuple[dict[str, Basis], dict[str, str]]:
    """Bases and metadata of an SVD cache whose tensors match its checksum; anything else is a ``RunDirError``."""
    from safetensors.torch import load

    data = ckpt.read_bytes(path)
    try:
        size = int.from_bytes(data[:8], "little")
        metadata = json.loads(data[8 : 8 + size]).get("__metadata__") or {}
        tensors = load(data)
    except Exception as exc:  # any parse failure means a damaged file, whatever the parser calls it
        raise RunDirError(f"{path} is corrupt or truncated ({ckpt.parse_failure(exc)})") from exc
    if metadata.get("format") != FORMAT:
        raise RunDirError(f"{path} records no identity (written by another tool or an older boostlora)")
    if metadata.get("tensors_sha256") != state_digest(tensors):
        raise RunDirError(f"{path} is corrupt: its tensors do not match the checksum it was written with")
    names = {key.rsplit("::", 1)[0] for key in tensors}
    try:
        bases = {n: Basis(tensors[f"{n}::U"], tensors[f"{n}::S"], tensors[f"{n}::V"]) for n in sorted(names)}
    except KeyError as exc:
        raise RunDirError(f"{path} lacks tensor {exc.args[0]}") from exc
    return bases, metadata


def mismatch(metadata: dict[str, str], identity: SvdIdentity) -> str | None:
    """The first field in which a cache's identity differs from ``identity`` (None: it is this run's)."""
    for key, value in identity.metadata().items():
        if metadata.get(key) != value:
            return key
    return None


def bases_for_run(
    model: nn.Module,
    targets: list[str],
    identity: SvdIdentity,
    max_rounds: int,
    cache: Path | None,
    recorded: dict[str, Any] | None = None,
    show_progress: bool = False,
) -> dict[str, Basis]:
    """The bases a run uses: from ``cache`` when it is this run's and intact, else recomputed (and cached).

    ``recorded`` is the checkpoint's ``record`` on resume: the bases must then reproduce it exactly.
    """
    needed = components_needed(identity.strategy, identity.r, max_rounds)
    want = needed if recorded is None else max(needed, recorded["components"])
    if cache is not None and cache.exists():
        why = _unusable(cache, identity, want, recorded)
        if why is None:
            return read(cache)[0]
        log.warning("%s %s: recomputing it", cache, why)
    from tqdm.auto import tqdm

    modules = dict(model.named_modules())
    bases = {}
    for name in tqdm(targets, desc="one-time SVD", unit="module", disable=not show_progress, leave=False):
        bases[name] = truncated_svd(modules[name].weight, want, identity.method)
    if recorded is not None and record(bases, recorded["components"]) != recorded:
        raise RunDirError(
            f"the SVD recomputed for {cache} does not reproduce the directions the checkpoint's rounds were merged "
            f"on (svd={identity.method}, {want} components; a randomized SVD differs when the component count "
            f"changes): restore the run's original svd.safetensors or max_rounds, or start a new run"
        )
    if cache is not None:
        save(cache, bases, identity)
        fault_point("svd-saved")
    return bases


def _unusable(cache: Path, identity: SvdIdentity, want: int, recorded: dict[str, Any] | None) -> str | None:
    """Why ``cache`` cannot serve this run, or None when it can."""
    try:
        bases, metadata = read(cache)
    except RunDirError as exc:
        return str(exc).removeprefix(f"{cache} ")
    field = mismatch(metadata, identity)
    if field is not None:
        return f"was computed for another run ({field} differs)"
    if set(bases) != set(identity.targets):
        return "holds other modules than this run's targets"
    if recorded is None:
        # A fresh start must get what a clean run gets: a randomized SVD depends on the component count.
        if int(metadata.get("components", -1)) != want:
            return f"holds {metadata.get('components')} components, this run computes {want}"
        return None
    held = min(b.components for b in bases.values())
    if held < recorded["components"] or record(bases, recorded["components"]) != recorded:
        return "does not hold the directions the checkpoint's rounds were merged on"
    if held < want:
        return f"holds {held} components, the raised max_rounds needs {want}"
    return None
