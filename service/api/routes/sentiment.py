"""POST /v1/sentiment."""

from fastapi import Request, Response

from service.api.deps import run_operation
from service.api.openapi import inference_operation
from service.api.router import v1
from service.schemas.sentiment import SentimentRequest, SentimentResponse
from service.tasks.sentiment import SentimentPredictor


@v1.post(
    "/sentiment",
    tags=["sentiment"],
    response_model=SentimentResponse,
    openapi_extra=inference_operation(SentimentRequest),
)
async def classify_sentiment(request: Request) -> Response:
    """Classify each text as negative or positive, with both class probabilities."""
    return await run_operation(request, SentimentPredictor, SentimentRequest)
