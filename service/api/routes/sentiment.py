"""POST /v1/sentiment."""

from fastapi import Request, Response

from service.api.deps import answer, inference_operation
from service.api.router import v1
from service.predictors.sentiment import SentimentPredictor
from service.schemas.sentiment import SentimentRequest, SentimentResponse


@v1.post("/sentiment", tags=["sentiment"], response_model=SentimentResponse, openapi_extra=inference_operation(SentimentRequest))
async def classify_sentiment(request: Request) -> Response:
    """Classify each text as negative or positive, with both class probabilities."""
    return await answer(request, SentimentPredictor, SentimentRequest)
