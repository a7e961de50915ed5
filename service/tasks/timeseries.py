"""KServe's time-series API over the forecast models: each named series of a request becomes one /v1/forecast
request to the same ready model (so their windows batch together), and each answer one forecast in
KServe's shape. A series at fault gets its own error output; the others are answered."""

import asyncio
import calendar
import time
import uuid
from datetime import datetime, timedelta

from pydantic import ValidationError

from service.errors import ErrorDetail, InvalidInput
from service.runtime.model import ReadyModel, RequestContext
from service.runtime.registry import ModelRegistry
from service.schemas.forecast import ForecastRequest, ForecastResponse
from service.schemas.timeseries import (
    Error,
    ForecastOutput,
    TimeSeriesForecast,
    TimeSeriesForecastRequest,
    TimeSeriesForecastResponse,
    TimeSeriesInput,
)
from service.tasks import forecast as forecast_task
from service.tasks.forecast import ForecastPredictor

ForecastModel = ReadyModel[
    ForecastRequest, forecast_task.PreparedForecast, forecast_task.ForecastOutput, ForecastResponse
]

# Frequencies of fixed length; months, quarters and years are counted on the calendar.
FIXED_STEPS = {
    "S": timedelta(seconds=1), "second": timedelta(seconds=1), "T": timedelta(minutes=1),
    "minute": timedelta(minutes=1), "H": timedelta(hours=1), "hour": timedelta(hours=1),
    "D": timedelta(days=1), "day": timedelta(days=1), "W": timedelta(weeks=1), "week": timedelta(weeks=1),
}  # fmt: skip
CALENDAR_MONTHS = {"M": 1, "month": 1, "Q": 3, "quarter": 3, "Y": 12, "year": 12}


def after_steps(start: datetime, frequency: str, steps: int) -> datetime:
    """`start` moved `steps` periods of `frequency` on; a month end stays within its month (Jan 31 + 1 month
    is Feb 28 or 29)."""
    if frequency in FIXED_STEPS:
        return start + FIXED_STEPS[frequency] * steps
    months = start.month - 1 + CALENDAR_MONTHS[frequency] * steps
    year, month = start.year + months // 12, months % 12 + 1
    return start.replace(year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1]))


def forecast_start(series: TimeSeriesInput, index: int) -> str:
    """ISO 8601 time of the step after the series' last value; '' when the series gave no start."""
    if series.start_timestamp is None:
        return ""
    try:
        start = datetime.fromisoformat(series.start_timestamp)
    except ValueError:
        raise InvalidInput(
            f"inputs[{index}].start_timestamp is not an ISO 8601 time: {series.start_timestamp!r}",
            [
                ErrorDetail(loc=["body", "start_timestamp"], msg="an ISO 8601 time")
            ],  # error_of adds the series
        ) from None
    return after_steps(start, series.frequency, len(series.series)).isoformat()


def error_of(error: InvalidInput, index: int) -> Error:
    """A series' fault in KServe's terms, located within the request (the fault's own location is within
    the series: its history is the series)."""
    where = error.details[0].loc if error.details else []
    inside = ["series" if part == "history" else str(part) for part in where if part != "body"]
    return Error(
        code="400", message=error.message, param=".".join(["inputs", str(index), *inside]), type=error.code
    )


class TimeSeriesForecaster:
    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    def model_names(self) -> list[str]:
        """The forecast models that serve now, as KServe lists them: by name."""
        return [
            name for name, entry in self.registry.entries.items() if entry.task == "forecast" and entry.ready
        ]

    async def forecast(
        self, body: TimeSeriesForecastRequest, context: RequestContext
    ) -> TimeSeriesForecastResponse:
        """Every series through the model at once; 404, 422 or 503 for the model before any series runs."""
        model = self.registry.resolve(body.model, ForecastPredictor)
        answer_id = uuid.uuid4().hex
        context.log_fields["series"] = len(body.inputs)
        outputs = await asyncio.gather(
            *(
                self._one(model, series, index, body, context, f"{answer_id}-{index}")
                for index, series in enumerate(body.inputs)
            )
        )
        failed = sum(output.status == "error" for output in outputs)
        status = "completed" if not failed else "error" if failed == len(outputs) else "partial"
        return TimeSeriesForecastResponse(
            id=answer_id,
            created_at=int(time.time()),
            status=status,
            error=outputs[0].error if status == "error" else None,
            model=model.name,
            outputs=list(outputs),
            metadata=body.metadata,
        )

    async def _one(
        self,
        model: ForecastModel,
        series: TimeSeriesInput,
        index: int,
        body: TimeSeriesForecastRequest,
        context: RequestContext,
        output_id: str,
    ) -> ForecastOutput:
        options = body.options
        try:
            start = forecast_start(series, index)
            request = ForecastRequest.model_validate(
                {
                    "model": body.model,
                    "history": series.series,
                    "horizon": options.horizon,
                    "quantiles": options.quantiles or [],
                    "method": options.method,
                    "frequency": series.frequency,
                    "season": options.season,
                }
            )
            answer = await model.run(request, context)
        except ValidationError as error:  # a series the forecast schema refuses (ragged rows, ...)
            fault = error.errors()[0]
            refused = InvalidInput(
                f"inputs[{index}] is not a history /v1/forecast takes: {fault['msg']}",
                [ErrorDetail(loc=["body", *fault["loc"]], msg=fault["msg"])],
            )
            return ForecastOutput(id=output_id, status="error", content=[], error=error_of(refused, index))
        except InvalidInput as error:
            return ForecastOutput(id=output_id, status="error", content=[], error=error_of(error, index))
        forecast = TimeSeriesForecast(
            type=series.type,
            name=series.name,
            mean_forecast=answer.forecast,
            frequency=series.frequency,
            start_timestamp=start,
            quantiles=answer.quantiles or None,
        )
        return ForecastOutput(id=output_id, status="completed", content=[forecast])
