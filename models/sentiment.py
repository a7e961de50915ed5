"""Sentiment classifier: embedding -> RNN | LSTM | GRU -> pooling over time -> linear."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

CellType = Literal["rnn", "lstm", "gru"]
Pooling = Literal["last", "max", "mean"]

# Each builds a cell as cell(input_size, hidden_size, ...): typed as such, since RNNBase's own signature
# differs.
_CELLS: dict[str, Callable[..., nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


@dataclass(frozen=True)
class SentimentConfig:
    vocab_size: int
    embedding_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    cell: CellType = "lstm"
    bidirectional: bool = True
    dropout: float = 0.3
    pooling: Pooling = "max"
    num_classes: int = 2
    padding_idx: int = 0

    def __post_init__(self) -> None:
        if self.cell not in _CELLS:
            raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {self.cell!r}")
        if self.pooling not in ("last", "max", "mean"):
            raise ValueError(f"pooling must be last, max or mean, got {self.pooling!r}")


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of a right-padded batch inside its own length; padding stays put.

    x: (B, T, F), lengths: (B,). Applying it twice gives x back.
    """
    steps = torch.arange(x.size(1), device=x.device).unsqueeze(0)  # (1, T)
    lengths = lengths.to(x.device).unsqueeze(1)  # (B, 1)
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)  # (B, T)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class SentimentClassifier(nn.Module):
    """Classifies right-padded token id batches.

    Bidirectional layers run the backward cell on each sequence reversed within its
    own length, so the backward direction starts at the last real token instead of
    at padding, and a padded batch answers exactly as its sequences would alone.
    Padded inputs stay on the fast cuDNN/MKL kernels (packing mixed lengths does not).
    """

    def __init__(self, config: SentimentConfig) -> None:
        super().__init__()
        self.config = config
        cell = _CELLS[config.cell]
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.padding_idx)
        self.dropout = nn.Dropout(config.dropout)
        directions = 2 if config.bidirectional else 1
        self.forward_layers = nn.ModuleList()
        self.backward_layers = nn.ModuleList()
        for layer in range(config.num_layers):
            input_size = config.embedding_dim if layer == 0 else config.hidden_size * directions
            self.forward_layers.append(cell(input_size, config.hidden_size, batch_first=True))
            if config.bidirectional:
                self.backward_layers.append(cell(input_size, config.hidden_size, batch_first=True))
        self.classifier = nn.Linear(config.hidden_size * directions, config.num_classes)

    def forward(self, token_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """token_ids: (B, T) right-padded; lengths: (B,) each >= 1. Returns logits (B, num_classes)."""
        x = self.dropout(self.embedding(token_ids))  # (B, T, E)
        for index, forward_cell in enumerate(self.forward_layers):
            outputs, _ = forward_cell(x)  # (B, T, H)
            if self.config.bidirectional:
                backward, _ = self.backward_layers[index](reverse_within_length(x, lengths))
                outputs = torch.cat([outputs, reverse_within_length(backward, lengths)], dim=-1)  # (B, T, 2H)
            x = self.dropout(outputs) if index < len(self.forward_layers) - 1 else outputs
        logits: torch.Tensor = self.classifier(self.dropout(self._pool(x, lengths)))  # (B, num_classes)
        return logits

    def _pool(self, outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Summarise (B, T, D) outputs over real time steps only -> (B, D)."""
        lengths = lengths.to(outputs.device)
        real = (
            torch.arange(outputs.size(1), device=outputs.device).unsqueeze(0) < lengths.unsqueeze(1)
        ).unsqueeze(-1)
        if self.config.pooling == "max":
            return outputs.masked_fill(~real, float("-inf")).amax(dim=1)
        if self.config.pooling == "mean":
            return (outputs * real).sum(dim=1) / lengths.unsqueeze(1).to(outputs.dtype)
        # "last": the forward direction's state at the last real token; the backward
        # direction has read the whole sequence by position 0.
        hidden = self.config.hidden_size
        last = outputs[torch.arange(outputs.size(0), device=outputs.device), lengths - 1]  # (B, D)
        if not self.config.bidirectional:
            return last
        return torch.cat([last[:, :hidden], outputs[:, 0, hidden:]], dim=-1)
