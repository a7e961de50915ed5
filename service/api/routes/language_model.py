"""POST /v1/next-word, /v1/generate (optionally streamed) and /v1/perplexity."""

from enum import Enum

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from service.api.body import read_body
from service.api.deps import generator_of, json_response, request_context, run_operation
from service.api.openapi import STREAM_RESPONSE, inference_operation
from service.api.router import v1
from service.schemas.language_model import (
    GenerateRequest,
    GenerateResponse,
    NextWordRequest,
    NextWordResponse,
    PerplexityRequest,
    PerplexityResponse,
)
from service.tasks.language_model.generation import events
from service.tasks.language_model.operations import NextWordPredictor, PerplexityPredictor

TAGS: list[str | Enum] = ["language model"]


@v1.post(
    "/next-word",
    tags=TAGS,
    response_model=NextWordResponse,
    openapi_extra=inference_operation(NextWordRequest),
)
async def predict_next_word(request: Request) -> Response:
    """The top-k next words after the context, with the model's probabilities."""
    return await run_operation(request, NextWordPredictor, NextWordRequest)


@v1.post(
    "/perplexity",
    tags=TAGS,
    response_model=PerplexityResponse,
    openapi_extra=inference_operation(PerplexityRequest),
)
async def score_perplexity(request: Request) -> Response:
    """Perplexity of the text: exp of the mean NLL per token, the closing <eos> included."""
    return await run_operation(request, PerplexityPredictor, PerplexityRequest)


@v1.post(
    "/generate",
    tags=TAGS,
    response_model=GenerateResponse,
    responses={200: STREAM_RESPONSE},
    openapi_extra=inference_operation(GenerateRequest),
)
async def generate_text(request: Request) -> Response:
    """Continue the prompt; with `stream`, as server-sent events (TGI's shape)."""
    context = request_context(request)
    body = await read_body(request, GenerateRequest)
    generation = generator_of(request).start(context, body, request.is_disconnected)
    if not body.stream:
        return json_response(await generation.collect())
    opening = await anext(
        generation.tokens
    )  # a refusal before the first token keeps its real status and headers
    return StreamingResponse(
        events(opening, generation.tokens, body.max_new_tokens), media_type="text/event-stream"
    )
