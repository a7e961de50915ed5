"""POST /v1/next-word, /v1/generate (optionally streamed) and /v1/perplexity."""

from typing import Annotated

from fastapi import Request
from fastapi.responses import StreamingResponse

from service import generation
from service.api.body import json_body, request_body
from service.api.deps import InferenceDep
from service.api.router import v1
from service.predictors.language_model import GenerationPredictor, NextWordPredictor, PerplexityPredictor
from service.schemas.language_model import (
    GenerateRequest,
    GenerateResponse,
    NextWordRequest,
    NextWordResponse,
    PerplexityRequest,
    PerplexityResponse,
)

STREAM_RESPONSE = {
    "content": {"text/event-stream": {"description": "with stream: one event per token, the last with generated_text"}}
}


@v1.post("/next-word", tags=["language model"], openapi_extra=request_body(NextWordRequest))
async def predict_next_word(
    body: Annotated[NextWordRequest, json_body(NextWordRequest)], inference: InferenceDep
) -> NextWordResponse:
    """The top-k next words after the context, with the model's probabilities."""
    return await inference.answer(NextWordPredictor, body.model, body)


@v1.post("/perplexity", tags=["language model"], openapi_extra=request_body(PerplexityRequest))
async def score_perplexity(
    body: Annotated[PerplexityRequest, json_body(PerplexityRequest)], inference: InferenceDep
) -> PerplexityResponse:
    """Perplexity of the text: exp of the mean NLL per token, the closing <eos> included."""
    return await inference.answer(PerplexityPredictor, body.model, body)


@v1.post(
    "/generate",
    tags=["language model"],
    response_model=GenerateResponse,
    responses={200: STREAM_RESPONSE},
    openapi_extra=request_body(GenerateRequest),
)
async def generate_text(
    body: Annotated[GenerateRequest, json_body(GenerateRequest)], request: Request, inference: InferenceDep
) -> GenerateResponse | StreamingResponse:
    """Continue the prompt; with `stream`, as server-sent events (TGI's shape)."""
    model = inference.registry.resolve(body.model, GenerationPredictor)
    seed = body.seed if body.seed is not None else generation.draw_seed()
    inference.log_fields["max_new_tokens"] = body.max_new_tokens
    tokens = generation.generate_tokens(
        model,
        generation.first_step(body, seed),
        body.max_new_tokens,
        inference.deadline,
        inference.settings.request_timeout_s,
        request.is_disconnected,
        inference.log_fields,
    )
    if body.stream:
        first = await anext(tokens)  # a refusal before the first token keeps its real status and headers
        return StreamingResponse(generation.events(first, tokens, body.max_new_tokens), media_type="text/event-stream")
    return await generation.collect(model, tokens, seed)
