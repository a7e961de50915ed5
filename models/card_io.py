"""The card's `io` block, typed per task: what a model takes and gives.

`ModelCard` picks the class by its `task` and validates `io` at load, so a predictor,
a trainer or a benchmark reads typed fields, never string keys. A card that lacks a field
is refused with the model's name and the field's path (`io.max_length: Field required`).
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.forecaster import MultiStep
from models.text import Truncation


class SentimentIO(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: list[str] = Field(min_length=2, description="class names, in the order of the network's outputs")
    max_length: int = Field(ge=1, description="tokens kept per text")
    truncation: Truncation = Field(description="pre drops the start of a long text, post its end")
    pad_token: str = "<pad>"
    unk_token: str = "<unk>"  # words outside the vocabulary; cards written before this field have it so


class LanguageModelIO(BaseModel):
    model_config = ConfigDict(extra="forbid")

    corpus: str
    eos_token: str
    unk_token: str
    normalization: str = Field(
        description="how user text is normalized before lookup (the rules live in tokenizer.json)"
    )


class ForecastScaling(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: str
    min_scale: list[float] = Field(min_length=1, description="per feature: the floor on a window's spread")
    fitted_on: str


# How a forecast model may answer: its network, or (one-feature models) a statistical model fitted to the
# request's history (forecasting/statistical.py), or the combination of the network, ETS and Theta;
# `POST /v1/forecast` with method auto backtests them (forecasting/choice.py).
ForecastMethod = Literal["network", "seasonal_naive", "ets", "theta", "combination"]
# KServe's time-series frequency names, short and long.
Frequency = Literal[
    "S",
    "second",
    "T",
    "minute",
    "H",
    "hour",
    "D",
    "day",
    "W",
    "week",
    "M",
    "month",
    "Q",
    "quarter",
    "Y",
    "year",
]


class ForecastIO(BaseModel):
    model_config = ConfigDict(extra="forbid")

    features: list[str] = Field(min_length=1)
    target: str
    context_length: int = Field(ge=2)
    max_horizon: int = Field(ge=1)
    multi_step: MultiStep
    scaling: ForecastScaling
    quantiles: dict[str, list[float]] = Field(
        description="level -> conformal offset per horizon step, in window-spread units"
    )
    calibration_windows: int | None = Field(None, ge=0, description="windows the offsets were fitted on")
    methods: list[ForecastMethod] = Field(
        default_factory=lambda: list[ForecastMethod](["network"]),
        min_length=1,
        description="what may answer: the network and, for one-feature models, statistical models; the first "
        "is the fallback when a history is too short to backtest",
    )
    min_history: int | None = Field(
        None,
        ge=2,
        description="shortest history served, padded back by its season to the context; None: the context",
    )
    frequency: Frequency | None = Field(
        None, description="the series' frequency, used for the season when a request names none"
    )

    @model_validator(mode="after")
    def _consistent(self) -> "ForecastIO":
        if self.target not in self.features:
            raise ValueError(f"target {self.target!r} is not one of the features {self.features}")
        if len(self.features) != 1 and self.methods != ["network"]:
            raise ValueError(f"methods {self.methods}: statistical methods forecast one-feature models only")
        if self.min_history is not None and self.min_history > self.context_length:
            raise ValueError(
                f"min_history {self.min_history} is longer than the context {self.context_length}"
            )
        if len(self.scaling.min_scale) != len(self.features):
            raise ValueError(
                f"scaling.min_scale has {len(self.scaling.min_scale)} values for {len(self.features)} "
                f"features"
            )
        for level, offsets in self.quantiles.items():
            if not 0 < float(level) < 1:
                raise ValueError(f"quantile level {level!r} is not within (0, 1)")
            if len(offsets) < self.max_horizon:
                raise ValueError(
                    f"quantiles[{level!r}] has {len(offsets)} offsets for max_horizon {self.max_horizon}"
                )
        return self

    @property
    def shortest_history(self) -> int:
        return self.min_history or self.context_length

    @property
    def levels(self) -> dict[float, list[float]]:
        """The offered levels as numbers, each with its offset per step."""
        return {float(level): offsets for level, offsets in self.quantiles.items()}


CardIO = SentimentIO | LanguageModelIO | ForecastIO
IO_BY_TASK: dict[str, type[CardIO]] = {
    "sentiment": SentimentIO,
    "language-model": LanguageModelIO,
    "forecast": ForecastIO,
}
