"""The synthetic binding task: the plugin's offline default data, generated from a seed.

Not biology. It exists so a run with no downloads has something real to learn: a sequence "binds"
(label 1) when it carries a short binding motif, possibly mutated; non-binders carry a decoy made of the
same residues in another order, so amino-acid composition alone (which a mean-pooled linear probe reads
easily) does not give the answer away and the encoder itself has to change. ``difficulty`` in [0, 1]
raises the share of non-binders with a decoy and the motif's mutation rate; ``label_noise`` flips labels.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .encoding import ProteinExample

RESIDUES = "ACDEFGHIKLMNPQRSTVWY"


@dataclass(frozen=True)
class SyntheticSpec:
    """Knobs of the generator; everything is reproducible from ``seed``."""

    size: int = 800
    min_length: int = 24
    max_length: int = 48
    motif_length: int = 4
    difficulty: float = 0.0
    label_noise: float = 0.0
    seed: int = 0

    def check(self) -> None:
        if self.size < 4:
            raise ValueError(f"synthetic size must be at least 4, got {self.size}")
        if not 0 <= self.difficulty <= 1 or not 0 <= self.label_noise < 0.5:
            raise ValueError("synthetic difficulty must be in [0, 1] and label_noise in [0, 0.5)")
        if not 2 <= self.motif_length <= self.min_length <= self.max_length:
            raise ValueError("synthetic lengths must satisfy 2 <= motif_length <= min_length <= max_length")


def motif_for(seed: int, length: int) -> str:
    """The binding motif of a seed: distinct residues, so a decoy (a reordering) never equals it."""
    return "".join(random.Random(f"motif-{seed}").sample(RESIDUES, length))


def generate(spec: SyntheticSpec, stream: str = "synthetic") -> list[ProteinExample]:
    """``spec.size`` examples, half binders, in random order; ``where`` names each as a synthetic row.

    ``stream`` names the random stream: another stream (``synthetic-validation``) draws more examples of the same
    task (the motif depends on the seed only) without changing what the default stream draws.
    """
    spec.check()
    rng = random.Random(f"{stream}-{spec.seed}")
    motif = motif_for(spec.seed, spec.motif_length)
    decoy_rate = spec.difficulty
    mutation_rate = 0.25 * spec.difficulty
    examples = []
    for i in range(spec.size):
        binds = i % 2 == 0
        length = rng.randint(spec.min_length, spec.max_length)
        body = [rng.choice(RESIDUES) for _ in range(length - spec.motif_length)]
        if binds:
            insert = [rng.choice(RESIDUES) if rng.random() < mutation_rate else c for c in motif]
        elif rng.random() < decoy_rate:
            insert = _decoy(motif, rng)
        else:
            insert = [rng.choice(RESIDUES) for _ in motif]
        at = rng.randint(0, len(body))
        sequence = "".join(body[:at] + insert + body[at:])
        label = int(binds) if rng.random() >= spec.label_noise else int(not binds)
        where = f"synthetic row {i + 1}" if stream == "synthetic" else f"{stream} row {i + 1}"
        examples.append(ProteinExample(sequence, label, None, where))
    rng.shuffle(examples)
    return examples


def _decoy(motif: str, rng: random.Random) -> list[str]:
    """The motif's residues in a different order."""
    letters = list(motif)
    while "".join(letters) == motif:
        rng.shuffle(letters)
    return letters
