"""Turning text and token id lists into model input, shared by training and serving so both read, cut and
pad alike."""

from typing import Literal, TypeVar

import torch
from tokenizers import Tokenizer

Truncation = Literal["pre", "post"]
T = TypeVar("T")


def truncate(ids: list[T], max_length: int, side: Truncation) -> tuple[list[T], bool]:
    """Keep at most `max_length` ids (or anything aligned with them): "pre" drops the start (keeps the
    end), "post" drops the end.

    Returns the kept ids and whether anything was cut.
    """
    if len(ids) <= max_length:
        return ids, False
    return (ids[-max_length:] if side == "pre" else ids[:max_length]), True


def pad_batch(
    sequences: list[list[int]], pad_id: int, multiple: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the longest sequence, rounded up to `multiple`: token_ids (B, T) int64 and lengths (B,)
    int64.

    Serving rounds T up so that fewer distinct shapes reach oneDNN, whose primitive cache holds
    RNNSERVE_ONEDNN_CACHE_CAPACITY of them: a miss recompiles the LSTM for the new shape.
    """
    lengths = torch.tensor([len(sequence) for sequence in sequences], dtype=torch.long)
    longest = int(lengths.max())
    token_ids = torch.full((len(sequences), -(-longest // multiple) * multiple), pad_id, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        token_ids[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return token_ids, lengths


def words_of(tokenizer: Tokenizer, text: str) -> list[str]:
    """`text` as a word-level tokenizer.json reads it: normalized, then split by its pre-tokenizer (on spaces
    where it has none). Serving looks these words up; training's golden answers are computed from them."""
    normalizer, pre_tokenizer = tokenizer.normalizer, tokenizer.pre_tokenizer
    normalized = normalizer.normalize_str(text) if normalizer else text
    if pre_tokenizer is None:
        return normalized.split()
    return [word for word, _ in pre_tokenizer.pre_tokenize_str(normalized)]
