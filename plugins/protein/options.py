"""The binding task's options (``task_options``), typed with help text: ``boostlora plugins --verbose`` lists them.

The task still checks what the types cannot say (choices, ranges) in ``ProteinTask._check_options``.
"""

from __future__ import annotations

from dataclasses import dataclass

from boostlora import Options, option

from .encoding import DEFAULT_LINKER
from .model import ESM2_MAX_TOKENS

SYNTHETIC = "synthetic"


@dataclass
class ProteinOptions(Options):
    data: str = option(SYNTHETIC, "synthetic, a CSV/TSV/parquet/FASTA path, or hf:owner/name")
    eval_data: str | None = option(None, "separate held-out source; otherwise eval_fraction of `data` is held out")
    eval_fraction: float = option(0.25, "stratified share of `data` held out when there is no eval_data", above=0, below=1)
    train_split: str = option("train", "hub split to train on")
    eval_split: str = option("test", "hub split to hold out")
    sequence_column: str = option("sequence", "column with the (first) sequence")
    partner_column: str | None = option(None, "column with the partner sequence, for protein-protein pairs")
    label_column: str = option("label", "column with the label")
    label_threshold: float | None = option(None, "binarise a regression label (affinity) at this value")
    positive_when: str = option("above", "above: value >= threshold binds; below: value <= threshold binds (Kd)")
    num_classes: int = option(2, "classes of the label")
    max_length: int = option(ESM2_MAX_TOKENS - 2, "residues per example, linker included (ESM2 takes at most 1,022)",
                             at_least=1, at_most=ESM2_MAX_TOKENS - 2)
    crop: str = option("start", "which residues a longer sequence keeps: start, center or end")
    pair_linker: str = option(DEFAULT_LINKER, "residues joining the two chains of a pair")
    skip_invalid: bool = option(False, "drop rows with invalid sequences or labels instead of refusing the data")
    synthetic_size: int = option(800, "examples of the synthetic task")
    synthetic_validation_size: int = option(
        400, "examples of the synthetic task's validation split (its own random stream; train and held-out unchanged)"
    )
    synthetic_difficulty: float = option(0.0, "probability that a non-binder carries a decoy motif", at_least=0, at_most=1)
    synthetic_label_noise: float = option(0.0, "probability of a flipped synthetic label", at_least=0, at_most=1)
    synthetic_motif_length: int = option(4, "residues of the synthetic binding motif")
    head: str = option("logistic", "logistic | cross_entropy (fitted probe), or keep (the head saved with the model)")
    head_strength: float = option(1.0, "inverse L2 strength C of the probe (scikit-learn's C), both head modes", above=0)
    batch_size: int = option(64, "rows per batch")
    max_tokens: int = option(32768, "padded tokens per batch at most")
