"""POST /v1/forecast."""

from fastapi import Request, Response

from service.api.deps import run_operation
from service.api.openapi import inference_operation
from service.api.router import v1
from service.schemas.forecast import ForecastRequest, ForecastResponse
from service.tasks.forecast import ForecastPredictor


@v1.post(
    "/forecast",
    tags=["forecast"],
    response_model=ForecastResponse,
    openapi_extra=inference_operation(ForecastRequest),
    description="The next `horizon` values of the model's target after `history`, "
    "with conformal bounds for `quantiles`.",
)
async def forecast(request: Request) -> Response:
    return await run_operation(request, ForecastPredictor, ForecastRequest)
