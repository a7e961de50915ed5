"""POST /v1/forecast."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.card_io import Frequency
from service.schemas.common import ModelRequest, WholeNumber

MAX_HISTORY_ROWS = 10_000
MAX_FEATURES = 32
# Steps a request may ask for: past a network's own reach (its card's max_horizon), method auto answers
# by the statistical methods the card offers.
MAX_HORIZON = 1_000
MAX_SEASON_GIVEN = 5_000
MAX_QUANTILES = 16

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Row = Annotated[list[FiniteFloat], Field(min_length=1, max_length=MAX_FEATURES)]


class ForecastRequest(ModelRequest):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # JSON types as sent: "5" is not a number, "yes" not a boolean
        json_schema_extra={
            "examples": [
                {
                    "history": [112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118] * 4,
                    "horizon": 12,
                    "quantiles": [0.1, 0.9],
                }
            ]
        },
    )

    history: list[FiniteFloat | Row] = Field(
        min_length=1,
        max_length=MAX_HISTORY_ROWS,
        description="past values, oldest first: numbers for a one-feature model, or rows of the model's "
        "features; at least the model's card `io.min_history` (else its context_length; a shorter history "
        f"than the context is padded back by its season) and at most {MAX_HISTORY_ROWS:,} rows; finite "
        "numbers only",
    )
    horizon: WholeNumber = Field(
        ge=1,
        le=MAX_HORIZON,
        description=f"steps to forecast, at most {MAX_HORIZON:,}; past the network's reach (the card's "
        "`io.max_horizon`) the statistical methods the card offers answer (method auto), and naming the "
        "network (or the combination) is a 422",
    )
    frequency: Frequency | None = Field(
        None,
        description="the history's frequency (KServe's names: S/second, T/minute, H/hour, D/day, W/week, "
        "M/month, Q/quarter, Y/year): the season follows (hour 24, day 7, week 52, month 12, quarter 4, "
        "year 1; seconds and minutes: estimated); absent: the card's `io.frequency`, else estimated",
    )
    season: WholeNumber | None = Field(
        None,
        ge=1,
        le=MAX_SEASON_GIVEN,
        description="the season length in steps (1: none); wins over `frequency`",
    )
    method: Literal["auto", "network", "seasonal_naive", "ets", "theta", "combination"] = Field(
        "auto",
        description="what forecasts: auto backtests the model's card `io.methods` on the history's last "
        "horizons and answers with the best; or one of those methods by name",
    )
    quantiles: list[Annotated[float, Field(gt=0, lt=1)]] = Field(
        default_factory=list,
        max_length=MAX_QUANTILES,
        description="interval levels to return, among the model's card `io.quantiles` (e.g. 0.1 and 0.9)",
    )

    @field_validator("history")
    @classmethod
    def _rows_alike(cls, history: list[float | list[float]]) -> list[float | list[float]]:
        """All numbers, or all rows of one length: a ragged or mixed history is refused."""
        rows = [value for value in history if isinstance(value, list)]
        if not rows:
            return history
        if len(rows) != len(history):
            first_number = next(index for index, value in enumerate(history) if not isinstance(value, list))
            raise ValueError(
                f"history mixes rows and numbers (item {first_number} is a number): send one kind"
            )
        width = len(rows[0])
        for index, row in enumerate(rows):
            if len(row) != width:
                raise ValueError(f"history is ragged: row {index} has {len(row)} values, row 0 has {width}")
        return history

    @field_validator("quantiles")
    @classmethod
    def _distinct(cls, quantiles: list[float]) -> list[float]:
        if len(set(quantiles)) != len(quantiles):
            raise ValueError("quantiles must be distinct")
        return quantiles


class ForecastResponse(BaseModel):
    model: str
    version: str
    horizon: int
    forecast: list[float] = Field(description="the point forecast of the target, one value per step")
    quantiles: dict[str, list[float]] = Field(
        description="per requested level (keyed as given, e.g. '0.1'), the bound per step (conformal for the "
        "network, the model's own interval for a statistical method, the mean of both for the combination; "
        "with method auto, widened where the backtest errors say so); empty when none asked"
    )
    method: str = Field(
        description="what answered: network, seasonal_naive, ets, theta or combination (the mean of network, "
        "ets and theta)"
    )
    season: int = Field(
        description="the season length used to pad and fit (1: none): given, from the frequency, or estimated"
    )
    season_source: Literal["given", "estimated"] = Field(
        description="given: by the request's season or frequency, or the card's frequency; estimated: from "
        "the history"
    )
    backtest_mae: dict[str, float] = Field(
        description="with method auto, each candidate's mean absolute error on the history's last horizons; "
        "empty when one method was asked or the history was too short to backtest"
    )
