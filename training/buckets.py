"""Length-bucketed batches: sequences of similar length share a batch, so little compute goes to padding."""

import random


def bucketed_batches(
    lengths: list[int], batch_size: int, rng: random.Random | None, pool_batches: int = 50
) -> list[list[int]]:
    """Group example indices into batches of similar length.

    With `rng` (training): shuffle, sort within pools of `pool_batches` batches by length,
    cut into batches, then shuffle the batch order, so every epoch differs but each batch
    is nearly uniform in length. Without `rng` (evaluation): one sort over everything.
    """
    indices = list(range(len(lengths)))
    if rng is None:
        indices.sort(key=lambda index: lengths[index])
        return [indices[start : start + batch_size] for start in range(0, len(indices), batch_size)]
    rng.shuffle(indices)
    pool_size = batch_size * pool_batches
    batches: list[list[int]] = []
    for pool_start in range(0, len(indices), pool_size):
        pool = sorted(indices[pool_start : pool_start + pool_size], key=lambda index: lengths[index])
        batches.extend(pool[start : start + batch_size] for start in range(0, len(pool), batch_size))
    rng.shuffle(batches)
    return batches


def padding_share(lengths: list[int], batches: list[list[int]]) -> float:
    """Share of padded positions over all positions if each batch is padded to its longest member."""
    padded = sum(max(lengths[i] for i in batch) * len(batch) for batch in batches)
    return 1.0 - sum(lengths) / padded if padded else 0.0
