"""POST /v1/forecast."""

from fastapi import APIRouter, Depends, Request

from service.api.deps import InferenceDep, record_sizes, require_api_key
from service.errors import ERROR_RESPONSES
from service.predictors.forecast import ForecastPredictor
from service.schemas.forecast import ForecastRequest, ForecastResponse

router = APIRouter(prefix="/v1", tags=["forecast"], dependencies=[Depends(require_api_key)], responses=ERROR_RESPONSES)


@router.post("/forecast", response_model=ForecastResponse)
async def forecast(body: ForecastRequest, request: Request, inference: InferenceDep) -> ForecastResponse:
    """The next `horizon` values of the model's target after `history`, with conformal bounds for `quantiles`."""
    record_sizes(request, rows=len(body.history), horizon=body.horizon)
    entry = inference.registry.resolve(body.model, "forecast")
    assert isinstance(entry.predictor, ForecastPredictor) and entry.batcher is not None and entry.card is not None
    prepared = entry.predictor.preprocess(body.history, body.horizon, body.quantiles)
    [output] = await entry.batcher.submit([prepared], inference.deadline)
    result = entry.predictor.postprocess(prepared, output)
    return ForecastResponse(model=entry.name, version=entry.card.version, horizon=body.horizon, **result)
