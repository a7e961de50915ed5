"""POST /v1/next-word, /v1/generate (optionally streamed) and /v1/perplexity."""

from enum import Enum

from fastapi import Request, Response

from service import generation
from service.api.body import read_body
from service.api.deps import answer, inference_of, inference_operation
from service.api.router import v1
from service.predictors.language_model import NextWordPredictor, PerplexityPredictor
from service.schemas.language_model import (
    GenerateRequest,
    GenerateResponse,
    NextWordRequest,
    NextWordResponse,
    PerplexityRequest,
    PerplexityResponse,
)

TAGS: list[str | Enum] = ["language model"]
STREAM_RESPONSE = {
    "content": {"text/event-stream": {"description": "with stream: one event per token, the last with generated_text"}}
}


@v1.post("/next-word", tags=TAGS, response_model=NextWordResponse, openapi_extra=inference_operation(NextWordRequest))
async def predict_next_word(request: Request) -> Response:
    """The top-k next words after the context, with the model's probabilities."""
    return await answer(request, NextWordPredictor, NextWordRequest)


@v1.post("/perplexity", tags=TAGS, response_model=PerplexityResponse, openapi_extra=inference_operation(PerplexityRequest))
async def score_perplexity(request: Request) -> Response:
    """Perplexity of the text: exp of the mean NLL per token, the closing <eos> included."""
    return await answer(request, PerplexityPredictor, PerplexityRequest)


@v1.post(
    "/generate",
    tags=TAGS,
    response_model=GenerateResponse,
    responses={200: STREAM_RESPONSE},
    openapi_extra=inference_operation(GenerateRequest),
)
async def generate_text(request: Request) -> Response:
    """Continue the prompt; with `stream`, as server-sent events (TGI's shape)."""
    inference = inference_of(request)
    body = await read_body(request, GenerateRequest)
    return await generation.respond(inference, body, request.is_disconnected)
