"""Turn examples into ESM2 token batches: cropping, pair encoding, padding and length buckets.

Pair encoding (protein-protein binding): ``<cls> A linker B <eos>``, one sequence for the encoder, with the
linker left out of the mean pool so the pooled vector describes residues only. The default linker is 25
glycines, the convention ESMFold uses to fold complexes with a single-chain model; any residue string, the
empty string (plain concatenation) or one special token such as ``<eos>`` may be given instead.

Cropping: ESM2 was trained on at most 1024 tokens, so an example keeps at most ``max_length`` residues
(linker included). A single chain keeps its first ``max_length`` residues (``crop: start``), its middle
(``center``) or its end (``end``). A pair shares the budget: a chain shorter than half keeps all of its
residues and the other chain gets the rest; otherwise each gets half. Each chain is then cropped by the rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from boostlora import ConfigError

#: Residue letters ESM2's alphabet encodes: the 20 standard ones plus X (unknown), B, Z, U and O.
VALID_RESIDUES = frozenset("ACDEFGHIKLMNPQRSTVWYXBZUO")
CROP_RULES = ("start", "center", "end")
DEFAULT_LINKER = "G" * 25


@dataclass(frozen=True)
class ProteinExample:
    """One labelled sequence (``partner`` set for a pair). ``where`` locates it in its source for messages."""

    sequence: str
    label: int
    partner: str | None = None
    where: str = ""


def crop(sequence: str, length: int, rule: str) -> str:
    """At most ``length`` residues of ``sequence``, chosen by ``rule`` (start, center or end)."""
    if len(sequence) <= length:
        return sequence
    if rule == "start":
        return sequence[:length]
    if rule == "end":
        return sequence[len(sequence) - length:]
    offset = (len(sequence) - length) // 2
    return sequence[offset:offset + length]


def pair_budget(len_a: int, len_b: int, budget: int) -> tuple[int, int]:
    """Residues each chain of a pair keeps so that together they fit ``budget`` (see module docstring)."""
    if len_a + len_b <= budget:
        return len_a, len_b
    half = budget // 2
    if len_a <= half:
        return len_a, budget - len_a
    if len_b <= half:
        return budget - len_b, len_b
    return half, budget - half


class Encoder:
    """Tokenises examples for one alphabet and one set of options, caching by sequence."""

    def __init__(self, alphabet: Any, max_length: int, crop_rule: str, linker: str) -> None:
        self.alphabet = alphabet
        self.max_length = max_length
        self.crop_rule = crop_rule
        self.linker_ids = self._linker_ids(linker)
        self._cache: dict[tuple[str, str | None], tuple[list[int], list[bool]]] = {}
        self.cropped = 0

    def _linker_ids(self, linker: str) -> list[int]:
        if linker.startswith("<"):
            if linker not in self.alphabet.all_toks:
                raise ConfigError(f"pair_linker '{linker}' is not an ESM2 token (known: {', '.join(self.alphabet.all_toks)})")
            return [self.alphabet.get_idx(linker)]
        bad = sorted(set(linker) - VALID_RESIDUES)
        if bad:
            raise ConfigError(f"pair_linker '{linker}' has characters that are not residues: {''.join(bad)}")
        return [self.alphabet.get_idx(c) for c in linker]

    def encode(self, example: ProteinExample) -> tuple[list[int], list[bool]]:
        """Token ids (with BOS and EOS) and the pool mask (True at residues, False at BOS, EOS and linker)."""
        key = (example.sequence, example.partner)
        if key not in self._cache:
            self._cache[key] = self._encode(example.sequence, example.partner)
        return self._cache[key]

    def _encode(self, sequence: str, partner: str | None) -> tuple[list[int], list[bool]]:
        idx = self.alphabet.get_idx
        if partner is None:
            keep_a, keep_b = min(len(sequence), self.max_length), 0
        else:
            keep_a, keep_b = pair_budget(len(sequence), len(partner), self.max_length - len(self.linker_ids))
        a = crop(sequence, keep_a, self.crop_rule)
        tokens = [self.alphabet.cls_idx] + [idx(c) for c in a]
        pool = [False] + [True] * len(a)
        if partner is not None:
            b = crop(partner, keep_b, self.crop_rule)
            tokens += self.linker_ids + [idx(c) for c in b]
            pool += [False] * len(self.linker_ids) + [True] * len(b)
            self.cropped += len(b) < len(partner)
        self.cropped += len(a) < len(sequence)
        tokens.append(self.alphabet.eos_idx)
        pool.append(False)
        return tokens, pool

    def batch(self, examples: Sequence[ProteinExample], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded token ids and pool mask for ``examples``, shape (batch, longest)."""
        encoded = [self.encode(ex) for ex in examples]
        width = max(len(t) for t, _ in encoded)
        tokens = torch.full((len(encoded), width), self.alphabet.padding_idx, dtype=torch.long)
        pool = torch.zeros((len(encoded), width), dtype=torch.bool)
        for row, (ids, mask) in enumerate(encoded):
            tokens[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            pool[row, : len(mask)] = torch.tensor(mask, dtype=torch.bool)
        return tokens.to(device), pool.to(device)

    def lengths(self, examples: Sequence[ProteinExample]) -> list[int]:
        return [len(self.encode(ex)[0]) for ex in examples]


def length_buckets(lengths: Sequence[int], batch_size: int, max_tokens: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, so padding stays small.

    Sorted by length, then cut whenever a batch would exceed ``batch_size`` rows or ``max_tokens`` padded
    tokens (rows x longest). A single sequence longer than ``max_tokens`` still gets a batch of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and (len(current) + 1 > batch_size or (len(current) + 1) * lengths[i] > max_tokens):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches
