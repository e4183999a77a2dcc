"""Validate raw rows into labelled examples, and split them into train and held-out.

Validation reports every bad row by its location (row number or FASTA record) before anything trains:
invalid residues, empty sequences, missing or malformed labels. The run stops with a DataError listing
them, unless ``skip_invalid`` is set, in which case the rows are dropped and the count is logged.

Labels: class ids ``0 .. num_classes-1`` as given, or, with ``label_threshold``, numbers binarised:
``positive_when: above`` makes value >= threshold the binding class 1 (a score, -log Kd, pKd), ``below``
makes value <= threshold class 1 (Kd, IC50, dG in kcal/mol, where lower means tighter binding).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from boostlora import DataError

from .encoding import VALID_RESIDUES, ProteinExample
from .sources import Row

log = logging.getLogger("boostlora_plugins.protein")
MISSING = {"", "na", "nan", "none", "null"}
SHOWN_PROBLEMS = 5


@dataclass(frozen=True)
class LabelRule:
    """How a raw label cell becomes a class id."""

    num_classes: int = 2
    threshold: float | None = None
    positive_when: str = "above"

    def parse(self, raw: Any) -> tuple[int | None, str]:
        """(class id, "") or (None, why it is unusable)."""
        if raw is None or (isinstance(raw, float) and math.isnan(raw)) or str(raw).strip().lower() in MISSING:
            return None, "missing label"
        try:
            value = float(raw)
        except (TypeError, ValueError):
            return None, f"label {raw!r} is not a number"
        if math.isnan(value):
            return None, "missing label"
        if self.threshold is not None:
            positive = value >= self.threshold if self.positive_when == "above" else value <= self.threshold
            return int(positive), ""
        if not value.is_integer() or not 0 <= value < self.num_classes:
            hint = " (set label_threshold to binarise a regression label)" if not value.is_integer() else ""
            return None, f"label {raw!r} is not a class id in 0..{self.num_classes - 1}{hint}"
        return int(value), ""


def clean_sequence(raw: Any, what: str) -> tuple[str | None, str]:
    """(upper-case sequence, "") or (None, why it is unusable). Whitespace inside is dropped."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None, f"empty {what}"
    sequence = "".join(str(raw).split()).upper()
    if not sequence:
        return None, f"empty {what}"
    bad = [(i + 1, c) for i, c in enumerate(sequence) if c not in VALID_RESIDUES]
    if bad:
        shown = ", ".join(f"{c!r} at {pos}" for pos, c in bad[:3]) + (" ..." if len(bad) > 3 else "")
        return None, f"invalid residue(s) in {what}: {shown}"
    return sequence, ""


def build_examples(
    rows: Sequence[Row],
    *,
    source: str,
    sequence_column: str,
    label_column: str,
    partner_column: str | None,
    rule: LabelRule,
    skip_invalid: bool,
) -> list[ProteinExample]:
    """Examples from raw rows; bad rows raise a DataError naming them, or are dropped with ``skip_invalid``."""
    if not rows:
        raise DataError(f"{source} has no rows")
    needed = [c for c in (sequence_column, label_column, partner_column) if c]
    present = set().union(*(fields.keys() for _, fields in rows))
    missing = [c for c in needed if c not in present]
    if missing:
        raise DataError(
            f"{source} has no column(s) {', '.join(missing)} (columns: {', '.join(sorted(present))}); "
            f"set sequence_column / label_column / partner_column"
        )
    examples: list[ProteinExample] = []
    problems: list[str] = []
    for where, fields in rows:
        sequence, why_seq = clean_sequence(fields.get(sequence_column), sequence_column)
        partner, why_partner = (None, "")
        if partner_column:
            partner, why_partner = clean_sequence(fields.get(partner_column), partner_column)
        label, why_label = rule.parse(fields.get(label_column))
        reasons = [r for r in (why_seq, why_partner, why_label) if r]
        if reasons:
            problems.append(f"{where}: {', '.join(reasons)}")
            continue
        examples.append(ProteinExample(sequence, label, partner, where))
    if problems and not skip_invalid:
        shown = "; ".join(problems[:SHOWN_PROBLEMS])
        more = f"; ... and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
        raise DataError(
            f"{source}: {len(problems)} invalid row(s): {shown}{more}. Fix them, or set task_options.skip_invalid=true to drop them"
        )
    if problems:
        log.warning("%s: dropped %d invalid row(s) of %d (skip_invalid): %s", source, len(problems), len(rows), "; ".join(problems[:SHOWN_PROBLEMS]))
    if not examples:
        raise DataError(f"{source}: no valid rows left")
    return examples


def split_examples(examples: Sequence[ProteinExample], eval_fraction: float, seed: int) -> tuple[list[ProteinExample], list[ProteinExample]]:
    """A stratified train/held-out split, deterministic for ``seed`` (plain random when a class is too rare)."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < eval_fraction < 1.0:
        raise DataError(f"eval_fraction must be between 0 and 1, got {eval_fraction}")
    n_eval = round(len(examples) * eval_fraction)
    if n_eval < 1 or n_eval >= len(examples):
        raise DataError(f"{len(examples)} examples cannot be split with eval_fraction={eval_fraction}: give eval_data or more rows")
    labels = [ex.label for ex in examples]
    counts = [labels.count(c) for c in set(labels)]
    stratify = labels if min(counts) >= 2 and n_eval >= len(counts) else None
    train, held_out = train_test_split(list(examples), test_size=n_eval, random_state=seed, stratify=stratify)
    return list(train), list(held_out)
