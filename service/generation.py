"""Text generation as a sequence of pipeline runs: each new token of each request is one batcher item."""

import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import torch
from fastapi import Response
from fastapi.responses import StreamingResponse

from models.language_model import State
from service import pipeline
from service.errors import ErrorBody, ErrorResponse, ServiceError
from service.pipeline import Inference, ReadyModel
from service.predictors.base import Prepared
from service.predictors.language_model import GenerationPredictor, GenerationStep, LMItem, LMOutput, SampledToken
from service.schemas.language_model import GenerateRequest, GenerateResponse

GenerationModel = ReadyModel[GenerationStep, Prepared[LMItem], LMOutput, SampledToken]


def draw_seed() -> int:
    return random.SystemRandom().randrange(2**63)


def first_step(request: GenerateRequest, seed: int, start: State | None = None) -> GenerationStep:
    generator = torch.Generator().manual_seed(seed)
    return GenerationStep(request.prompt, request.temperature, request.top_k, generator, start=start)


def render(tokens: list[SampledToken]) -> str:
    """Words joined by spaces; each <eos> ends a line."""
    text = " ".join("\n" if token.end_of_sentence else token.word for token in tokens)
    return "\n".join(line.strip() for line in text.split("\n"))


async def generate_tokens(
    model: GenerationModel,
    step: GenerationStep,
    max_new_tokens: int,
    deadline: float,
    step_timeout_s: float,
    disconnected: Callable[[], Awaitable[bool]],
    log_fields: dict[str, Any],
) -> AsyncIterator[SampledToken]:
    """Yield new tokens one by one; stops early if the client leaves."""
    for _ in range(max_new_tokens):
        token = await pipeline.run(model, step, deadline, log_fields)
        yield token
        if await disconnected():
            return
        # Later steps get a fresh deadline: the request's deadline bounds its wait for the first step.
        deadline = time.monotonic() + step_timeout_s
        step = step.after(token)


def start(
    inference: Inference,
    body: GenerateRequest,
    disconnected: Callable[[], Awaitable[bool]],
    from_state: State | None = None,
) -> tuple[GenerationModel, int, AsyncIterator[SampledToken]]:
    """The model, the seed and the tokens to come of one generate request (nothing runs until they are read).
    `from_state`, a session's, takes the place of the prompt."""
    model = inference.registry.resolve(body.model, GenerationPredictor)
    seed = body.seed if body.seed is not None else draw_seed()
    inference.log_fields["max_new_tokens"] = body.max_new_tokens
    step_timeout_s = inference.settings.request_timeout_s
    first = first_step(body, seed, from_state)
    tokens = generate_tokens(
        model, first, body.max_new_tokens, inference.deadline, step_timeout_s, disconnected, inference.log_fields
    )
    return model, seed, tokens


async def respond(inference: Inference, body: GenerateRequest, disconnected: Callable[[], Awaitable[bool]]) -> Response:
    """The whole answer to a generate request: JSON, or server-sent events when `stream` is asked."""
    model, seed, tokens = start(inference, body, disconnected)
    if body.stream:
        opening = await anext(tokens)  # a refusal before the first token keeps its real status and headers
        return StreamingResponse(events(opening, tokens, body.max_new_tokens), media_type="text/event-stream")
    answer = await collect(model, tokens, seed)
    return Response(answer.model_dump_json(), media_type="application/json")


async def collect(model: GenerationModel, tokens: AsyncIterator[SampledToken], seed: int) -> GenerateResponse:
    generated = [token async for token in tokens]
    return GenerateResponse(
        model=model.name,
        version=model.card.version,
        generated_text=render(generated),
        tokens=[token.word for token in generated],
        seed=seed,
    )


async def events(first: SampledToken, rest: AsyncIterator[SampledToken], count: int) -> AsyncIterator[str]:
    """Server-sent events, one per token; the last carries the whole text (TGI's shape).

    The first token is produced before the stream starts, so a refusal (429, 504, 503) is an ordinary
    error response with its status and headers. A failure later, once the 200 is sent, ends the stream
    with an event in the usual error shape.
    """
    generated: list[SampledToken] = []

    async def every_token() -> AsyncIterator[SampledToken]:
        yield first
        async for token in rest:
            yield token

    try:
        async for token in every_token():
            generated.append(token)
            final = render(generated) if len(generated) == count else None
            yield f"data: {json.dumps({'token': {'text': token.word}, 'generated_text': final})}\n\n"
    except ServiceError as error:
        body = ErrorResponse(error=ErrorBody(code=error.code, message=error.message, details=error.details))
        yield f"data: {body.model_dump_json()}\n\n"
