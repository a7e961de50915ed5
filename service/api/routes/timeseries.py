"""KServe's time-series API: POST /v1/timeseries/forecast and GET /v1/timeseries/models, over the same
forecast models and methods as /v1/forecast. Errors take KServe's shape here:
{"error": {"code": "400", "message", "param", "type"}} (service/api/errors.py)."""

from fastapi import Request, Response

from service.api.body import read_body
from service.api.deps import json_response, request_context, timeseries_of
from service.api.errors import documented_errors
from service.api.openapi import request_body
from service.api.router import v1
from service.schemas.timeseries import (
    TimeSeriesErrorResponse,
    TimeSeriesForecastRequest,
    TimeSeriesForecastResponse,
)

ERRORS = documented_errors(
    TimeSeriesErrorResponse,
    {
        400: "invalid request (invalid_input); a fault in one series is that series' output instead",
        401: "API key missing or wrong (unauthorized)",
        404: "no forecast model of that name (model_not_found)",
        408: "the request body did not arrive in time (body_timeout)",
        413: "request body too large (payload_too_large)",
        429: "the model's queue is full (queue_full); see Retry-After",
        503: "model loading or failed, or shutting down",
        504: "deadline passed before the forward pass (deadline_exceeded)",
        500: "unexpected error (internal_error)",
    },
)


@v1.post(
    "/timeseries/forecast",
    tags=["time series (KServe)"],
    response_model=TimeSeriesForecastResponse,
    responses=ERRORS,
    openapi_extra=request_body(TimeSeriesForecastRequest),
)
async def forecast_time_series(request: Request) -> Response:
    """Forecast several named series with one model, as KServe's time-series API does."""
    context = request_context(request)
    body = await read_body(request, TimeSeriesForecastRequest)
    return json_response(await timeseries_of(request).forecast(body, context))


@v1.get("/timeseries/models", tags=["time series (KServe)"], responses=ERRORS)
async def list_time_series_models(request: Request) -> list[str]:
    """The forecast models that serve now, by name."""
    return timeseries_of(request).model_names()
