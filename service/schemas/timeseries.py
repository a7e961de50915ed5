"""KServe's time-series forecast API (kserve.protocol.rest.timeseries.types): the same field names, with
rnnserve's bounds on every field. `POST /v1/timeseries/forecast` answers several named series at once."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.card_io import Frequency
from service.schemas.common import WholeNumber
from service.schemas.forecast import (
    MAX_HISTORY_ROWS,
    MAX_HORIZON,
    MAX_QUANTILES,
    MAX_SEASON_GIVEN,
    FiniteFloat,
    Row,
)

MAX_SERIES = 64  # series per request
SeriesType = Literal["univariate_time_series", "multivariate_time_series"]
Status = Literal["completed", "error", "pending", "partial"]


class TimeSeriesInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    type: SeriesType
    name: str = Field(min_length=1, max_length=200, description="the series' name, echoed in its forecast")
    series: list[FiniteFloat] | list[Row] = Field(
        min_length=1,
        max_length=MAX_HISTORY_ROWS,
        description="past values, oldest first: numbers (univariate) or rows of the model's features",
    )
    frequency: Frequency = Field(description="the series' frequency; its season follows from it")
    start_timestamp: str | None = Field(
        None, max_length=64, description="ISO 8601 time of the first value; the forecast's start follows"
    )


class ForecastOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    horizon: WholeNumber = Field(ge=1, le=MAX_HORIZON, description="steps to forecast")
    quantiles: list[Annotated[float, Field(gt=0, lt=1)]] | None = Field(
        None, max_length=MAX_QUANTILES, description="levels among the model's card `io.quantiles`"
    )
    # rnnserve's own options, as /v1/forecast takes them
    method: Literal["auto", "network", "seasonal_naive", "ets", "theta", "combination"] = "auto"
    season: WholeNumber | None = Field(None, ge=1, le=MAX_SEASON_GIVEN, description="wins over frequency")


class TimeSeriesForecastRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    model: str = Field(
        min_length=1, max_length=100, description="a forecast model (GET /v1/timeseries/models)"
    )
    inputs: list[TimeSeriesInput] = Field(min_length=1, max_length=MAX_SERIES)
    options: ForecastOptions
    metadata: dict[str, str] | None = Field(None, max_length=32, description="echoed back")


class Error(BaseModel):
    code: str | None = Field(None, description="the HTTP status, as KServe gives it ('400')")
    message: str
    param: str | None = Field(None, description="where the fault is, e.g. inputs.0.series")
    type: str = Field(description="rnnserve's error code, e.g. invalid_input")


class TimeSeriesErrorResponse(BaseModel):
    error: Error


class TimeSeriesForecast(BaseModel):
    type: SeriesType
    name: str
    mean_forecast: list[float] = Field(description="the target's forecast, one value per step")
    frequency: Frequency
    start_timestamp: str = Field(description="ISO 8601 time of the first forecast step; '' when none given")
    quantiles: dict[str, list[float]] | None = None


class ForecastOutput(BaseModel):
    type: Literal["time_series_forecast"] = "time_series_forecast"
    id: str
    status: Status
    content: list[TimeSeriesForecast]
    error: Error | None = None


class TimeSeriesForecastResponse(BaseModel):
    id: str
    created_at: int = Field(description="Unix time of the answer")
    status: Status = Field(description="completed; partial when some series failed; error when all did")
    error: Error | None = None
    model: str
    outputs: list[ForecastOutput] = Field(description="one per input series, in order")
    metadata: dict[str, str] | None = None
