"""The method itself: the subspace allocator (one SVD, a block per round), the TinyLoRA round adapter, the fp32
merge and its rank ledger, block-gain scaling, and ``round.boosting_round``, the algorithm's one round.

It imports the contract (tasks, objectives, evaluation) and the ground floor, never the run bookkeeping above it.
"""
