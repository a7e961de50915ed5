"""Word-level RNN language model: embedding -> RNN | LSTM | GRU -> linear over the vocabulary."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

CellType = Literal["rnn", "lstm", "gru"]
# Each builds a cell as cell(input_size, hidden_size, ...): typed as such, since RNNBase's own signature
# differs.
_CELLS: dict[str, Callable[..., nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

# An LSTM's state is (h, c); the others' is h alone. Each is (num_layers, B, H).
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class LanguageModelConfig:
    vocab_size: int
    embedding_dim: int = 200
    hidden_size: int = 200
    num_layers: int = 2
    cell: CellType = "lstm"
    dropout: float = 0.2
    tie_weights: bool = True

    def __post_init__(self) -> None:
        if self.cell not in _CELLS:
            raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {self.cell!r}")
        if self.tie_weights and self.embedding_dim != self.hidden_size:
            raise ValueError("tie_weights needs embedding_dim == hidden_size")


class LanguageModel(nn.Module):
    def __init__(self, config: LanguageModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.dropout = nn.Dropout(config.dropout)
        self.rnn = _CELLS[config.cell](
            config.embedding_dim,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        if config.tie_weights:
            # Press & Wolf 2017, Inan et al. 2017: input and output word vectors shared.
            self.decoder.weight = self.embedding.weight
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def forward(
        self,
        token_ids: torch.Tensor,
        state: State | None = None,
        last_only: bool = False,
        last_positions: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        """token_ids: (B, T). Returns logits (B, T, V) and the state after the last step.

        `last_only` projects only the last step through the vocabulary, (B, 1, V): most of the
        cost of predicting one next word. `last_positions` (B,) projects each row's own last
        real step instead, for right-padded batches: the network is causal, so padding after a
        row's end never changes its earlier steps (the returned state, though, is past the padding).
        """
        x = self.dropout(self.embedding(token_ids))  # (B, T, E)
        outputs, state = self.rnn(x, state)  # (B, T, H)
        if last_positions is not None:
            rows = torch.arange(outputs.shape[0], device=outputs.device)
            outputs = outputs[rows, last_positions].unsqueeze(1)  # (B, 1, H)
        elif last_only:
            outputs = outputs[:, -1:]  # (B, 1, H)
        return self.decoder(self.dropout(outputs)), state

    def next_logits(self, state: State) -> torch.Tensor:
        """Logits (B, 1, V) for the token after the one that produced `state`, with no token fed: the top
        layer's output at a step is its hidden state, so this equals forward's last row for the same text."""
        hidden = state[0] if isinstance(state, tuple) else state  # (layers, B, H)
        logits: torch.Tensor = self.decoder(self.dropout(hidden[-1]))  # (B, V)
        return logits.unsqueeze(1)
