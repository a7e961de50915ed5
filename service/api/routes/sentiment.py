"""POST /v1/sentiment."""

from typing import Annotated

from service.api.body import json_body, request_body
from service.api.deps import InferenceDep
from service.api.router import v1
from service.predictors.sentiment import SentimentPredictor
from service.schemas.sentiment import SentimentRequest, SentimentResponse


@v1.post("/sentiment", tags=["sentiment"], openapi_extra=request_body(SentimentRequest))
async def classify_sentiment(
    body: Annotated[SentimentRequest, json_body(SentimentRequest)], inference: InferenceDep
) -> SentimentResponse:
    """Classify each text as negative or positive, with both class probabilities."""
    return await inference.answer(SentimentPredictor, body.model, body)
