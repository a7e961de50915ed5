"""LSTM forecaster: a window of past rows -> the next values of one target feature.

Inputs are normalized per window (each feature by its own mean and standard deviation over
the window), so one model forecasts a series of any level or unit. Two networks:

- `head` (the default): an LSTM reads the window; multi-step output is either `direct` (a
  linear head emits every horizon step at once) or `recursive` (the head emits one step,
  which is fed back as the next input; univariate models only).
- `seq2seq`: the classic encoder-decoder. The encoder LSTM reads the window; a decoder LSTM,
  started from the encoder's final state, emits the horizon step by step, fed its own previous
  output (the last observed target value first), optionally with dot-product attention over the
  encoder's outputs (Luong et al. 2015). Its `multi_step` is `direct`: it is trained on whole
  horizons up to `max_horizon` at once, free-running as it is served.
"""

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

MultiStep = Literal["direct", "recursive"]
Network = Literal["head", "seq2seq"]


@dataclass
class ForecasterConfig:
    input_size: int  # features per row
    hidden_size: int
    num_layers: int
    multi_step: MultiStep
    max_horizon: int  # direct: steps the head emits; recursive: the most steps served
    target_index: int = 0  # which input feature is forecast
    dropout: float = 0.0
    network: Network = "head"  # cards written before seq2seq existed have the head
    attention: bool = False  # seq2seq: the decoder attends over the encoder's outputs

    def __post_init__(self) -> None:
        if self.network not in ("head", "seq2seq"):
            raise ValueError(f"network must be head or seq2seq, got {self.network!r}")
        if self.network == "seq2seq" and self.multi_step != "direct":
            raise ValueError("a seq2seq forecaster decodes whole horizons: its multi_step is direct")
        if self.attention and self.network != "seq2seq":
            raise ValueError("attention is a seq2seq decoder's")
        if self.multi_step not in ("direct", "recursive"):
            raise ValueError(f"multi_step must be direct or recursive, got {self.multi_step!r}")
        if self.multi_step == "recursive" and self.input_size != 1:
            raise ValueError("a recursive forecaster feeds its output back, so it takes exactly one feature")
        if not 0 <= self.target_index < self.input_size:
            raise ValueError(f"target_index {self.target_index} is not one of the {self.input_size} features")


def normalize_window(
    window: torch.Tensor, min_scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Standardize each window's features by their own statistics.

    window (B, T, F); min_scale (F,) floors the spread of flat windows.
    Returns (normalized (B, T, F), center (B, F), scale (B, F)).
    """
    center = window.mean(dim=1)
    scale = torch.maximum(window.std(dim=1, unbiased=False), min_scale.to(window))
    return (window - center.unsqueeze(1)) / scale.unsqueeze(1), center, scale


class Forecaster(nn.Module):
    def __init__(self, config: ForecasterConfig) -> None:
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(
            config.input_size,
            config.hidden_size,
            config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        if config.network == "seq2seq":
            self.decoder = nn.LSTM(
                1,
                config.hidden_size,
                config.num_layers,
                batch_first=True,
                dropout=config.dropout if config.num_layers > 1 else 0.0,
            )
            # the decoder's output, with the attended encoder context beside it when there is one
            width = config.hidden_size * (2 if config.attention else 1)
            self.head = nn.Linear(width, 1)
        else:
            head_steps = config.max_horizon if config.multi_step == "direct" else 1
            self.head = nn.Linear(config.hidden_size, head_steps)

    def forward(self, window: torch.Tensor, horizon: int) -> torch.Tensor:
        """Normalized window (B, T, F) -> normalized target forecasts (B, horizon), 1 <= horizon <=
        max_horizon.

        The horizon is checked once, against the card, by whoever calls (the predictor, the trainer).
        """
        if self.config.network == "seq2seq":
            return self._decode(window, horizon)
        outputs, state = self.lstm(window)  # outputs (B, T, hidden)
        step: torch.Tensor = self.head(outputs[:, -1])  # direct: (B, max_horizon); recursive: (B, 1)
        if self.config.multi_step == "direct":
            return step[:, :horizon]
        predictions = [step]
        for _ in range(horizon - 1):
            outputs, state = self.lstm(step.unsqueeze(-1), state)  # feed the forecast back: (B, 1, 1)
            step = self.head(outputs[:, -1])
            predictions.append(step)
        return torch.cat(predictions, dim=1)

    def _decode(self, window: torch.Tensor, horizon: int) -> torch.Tensor:
        """The encoder reads the window; the decoder emits `horizon` steps, each fed the one before."""
        encoded, state = self.lstm(window)  # encoded (B, T, hidden)
        step = window[:, -1:, self.config.target_index : self.config.target_index + 1]  # (B, 1, 1)
        predictions = []
        for _ in range(horizon):
            decoded, state = self.decoder(step, state)  # (B, 1, hidden)
            features = decoded[:, -1]  # (B, hidden)
            if self.config.attention:
                weights = torch.softmax(torch.bmm(encoded, decoded.transpose(1, 2)), dim=1)  # (B, T, 1)
                context = (weights * encoded).sum(dim=1)  # (B, hidden)
                features = torch.cat([features, context], dim=-1)  # (B, 2 hidden)
            value = self.head(features)  # (B, 1)
            predictions.append(value)
            step = value.unsqueeze(1)  # fed back: (B, 1, 1)
        return torch.cat(predictions, dim=1)  # (B, horizon)


def forecast_values(
    model: Forecaster, history: torch.Tensor, horizon: int, min_scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw history windows (B, T, F) -> (forecasts (B, horizon), the target's window scale (B,)), in the
    data's units."""
    normalized, center, scale = normalize_window(history, min_scale)
    target = model.config.target_index
    predictions = model(normalized, horizon)  # (B, horizon), normalized units
    return predictions * scale[:, target : target + 1] + center[:, target : target + 1], scale[:, target]
