"""``RoundRecord``: one merged round as ``report.json`` holds it and ``boostlora_round_end`` receives it."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class RoundRecord:
    """One merged round, as written to ``report.json`` and handed to ``boostlora_round_end`` (read-only)."""

    round: int
    n_train: int
    n_failures: int
    train_accuracy: float  # on the whole train split, before the round
    eval_accuracy: float  # on the held-out split, after the merge
    trainable_params: int
    cumulative_params: int  # trainable numbers of the rounds merged so far with a nonzero step (a step-0 round adds none)
    effective_rank: dict[str, int]  # numerical rank of the cumulative update per module, from its cores (not W - W0)
    entropy_rank: dict[str, float]  # Roy-Vetterli effective rank of the same update per target module
    seconds: float
    n_trained_on: int = 0  # failures plus replayed examples
    step_size: float = 1.0
    eval_metrics: dict[str, float] = field(default_factory=dict)
    train_metrics: dict[str, float] = field(default_factory=dict)
    merge_gap: float = 0.0
    seconds_train: float = 0.0  # the objective alone
    seconds_eval_train: float = 0.0  # judging the whole train split (the failure set)
    seconds_merge: float = 0.0
    # where the round's seconds went, phase by phase, in the order they ran: eval_train, attach, train,
    # line_search, merge, eval_validation, eval_heldout, record (cross-rank check and ranks); the parts sum to
    # ``seconds``
    seconds_by_phase: dict[str, float] = field(default_factory=dict)
    # the objective's own split of ``seconds_train`` (grpo: setup, trainer_start, generation, reward, scoring_logprobs,
    # loss_backward, optimizer, other); empty for objectives that do not split their time
    seconds_train_by_phase: dict[str, float] = field(default_factory=dict)
    # peak resident memory (MiB) of each phase, and of the objective's own parts (Linux: per phase; elsewhere the
    # process's peak so far)
    peak_rss_mb_by_phase: dict[str, float] = field(default_factory=dict)
    peak_rss_mb_train_by_phase: dict[str, float] = field(default_factory=dict)
    # item-level verdicts on the evaluation split (1 correct, 0 not, in the split's order): paired comparisons
    # between methods (same seed, same items) are recomputed from these without rerunning anything
    eval_verdicts: list[int] = field(default_factory=list)
    validation_accuracy: float | None = None  # on the validation split, after the merge: what decisions read
    validation_metrics: dict[str, float] = field(default_factory=dict)
    validation_verdicts: list[int] = field(default_factory=list)
    no_signal: bool = False  # the round could not learn: every GRPO group had one reward, or the update is zero
    weights_sha256: str | None = None  # multi-process runs: digest of the merged target weights, equal on every rank

    def __getitem__(self, key: str) -> Any:
        """``record["round"]``: how hooks read records before they were typed; kept working, with a warning."""
        warnings.warn(
            f'RoundRecord is a dataclass: read record.{key} instead of record["{key}"] (dict-style access will be '
            "removed in a later release)", DeprecationWarning, stacklevel=2,
        )
        if not isinstance(key, str) or key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        """The ``report.json`` form; ``weights_sha256`` only where there is one (multi-process runs)."""
        record = asdict(self)
        if record["weights_sha256"] is None:
            del record["weights_sha256"]
        return record
