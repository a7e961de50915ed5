"""What a language-model request becomes for the batcher: one item of an explicit kind, and what comes back.

- `NextWordItem`: fresh from <eos>; the next word ranked. Right-padded with items of similar length.
- `PerplexityItem`: fresh from <eos>; every target scored. Right-padded likewise (the LSTM is causal,
  so padding after a row's end changes none of its steps).
- `GenerationItem`: fed from a state (or fresh), the state after it kept; batched with items of equal
  length only, so concurrent generations advance in one forward pass per step.
- `SessionItem`: fed from a session's state (or fresh), every word fed scored (the first by the state's
  own next-token logits), the next word ranked and the state kept. It may feed no token at all.
"""

from dataclasses import dataclass
from typing import ClassVar

import torch

from models.language_model import State


@dataclass(frozen=True)
class NextWordItem:
    cost_kind: ClassVar[str] = "next-word"
    token_ids: list[int]


@dataclass(frozen=True)
class PerplexityItem:
    cost_kind: ClassVar[str] = "perplexity"
    token_ids: list[int]
    targets: list[int]  # one per token id: the word each position predicts


@dataclass(frozen=True)
class GenerationItem:
    cost_kind: ClassVar[str] = "generation"
    token_ids: list[int]
    state: State | None  # per-item state, batch dimension of size 1; None: a fresh start


@dataclass(frozen=True)
class SessionItem:
    cost_kind: ClassVar[str] = "session"
    token_ids: list[int]
    state: State | None  # None: a new session (its token ids then start with <eos>)
    targets: list[int]  # the words fed, each scored


LMItem = NextWordItem | PerplexityItem | GenerationItem | SessionItem


@dataclass(frozen=True)
class LMOutput:
    log_probs: torch.Tensor | None  # (V,) after the last token: generation and session items
    state: State | None  # generation and session items
    nll: float | None  # summed negative log-likelihood of the targets: perplexity and session items
    top: list[tuple[int, float]] | None = None  # the MAX_TOP_K likeliest ids, <unk> and <eos> left out


@dataclass(frozen=True)
class Context:
    """A text as the model reads it."""

    token_ids: list[int]  # the normalized words as ids, <unk> for unknown ones
    tokens: list[str]  # what was fed, <unk> included
    unknown_words: list[str]
