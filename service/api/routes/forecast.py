"""POST /v1/forecast."""

from typing import Annotated

from service.api.body import json_body, request_body
from service.api.deps import InferenceDep
from service.api.router import v1
from service.predictors.forecast import ForecastPredictor
from service.schemas.forecast import ForecastRequest, ForecastResponse


@v1.post("/forecast", tags=["forecast"], openapi_extra=request_body(ForecastRequest))
async def forecast(body: Annotated[ForecastRequest, json_body(ForecastRequest)], inference: InferenceDep) -> ForecastResponse:
    """The next `horizon` values of the model's target after `history`, with conformal bounds for `quantiles`."""
    return await inference.answer(ForecastPredictor, body.model, body)
