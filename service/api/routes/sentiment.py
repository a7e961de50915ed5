"""POST /v1/sentiment."""

from fastapi import APIRouter, Depends, Request

from service.api.deps import InferenceDep, record_sizes, require_api_key
from service.errors import ERROR_RESPONSES
from service.predictors.sentiment import SentimentPredictor
from service.schemas.sentiment import SentimentRequest, SentimentResponse, SentimentResult

router = APIRouter(prefix="/v1", tags=["sentiment"], dependencies=[Depends(require_api_key)], responses=ERROR_RESPONSES)


@router.post("/sentiment", response_model=SentimentResponse)
async def classify_sentiment(body: SentimentRequest, request: Request, inference: InferenceDep) -> SentimentResponse:
    """Classify each text as negative or positive, with both class probabilities."""
    record_sizes(request, texts=len(body.texts), chars=sum(len(text) for text in body.texts))
    entry = inference.registry.resolve(body.model, "sentiment")
    assert isinstance(entry.predictor, SentimentPredictor) and entry.batcher is not None and entry.card is not None
    prepared = entry.predictor.preprocess(body.texts)
    record_sizes(request, tokens=sum(len(item.token_ids) for item in prepared))
    probabilities = await entry.batcher.submit(prepared, inference.deadline)
    results = [
        SentimentResult(**entry.predictor.postprocess(item, row)) for item, row in zip(prepared, probabilities, strict=True)
    ]
    return SentimentResponse(model=entry.name, version=entry.card.version, results=results)
