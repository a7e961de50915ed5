"""Text generation as a sequence of runs of the model: each new token of each request is one batcher item."""

import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace

import torch

from models.language_model import State
from service.errors import ErrorBody, ErrorResponse, ServiceError
from service.runtime.contract import Prepared
from service.runtime.model import ReadyModel, RequestContext
from service.runtime.registry import ModelRegistry
from service.schemas.language_model import GenerateRequest, GenerateResponse
from service.tasks.language_model.items import GenerationItem, LMOutput, SessionItem
from service.tasks.language_model.operations import GenerationPredictor, GenerationStep, SampledToken

GenerationModel = ReadyModel[GenerationStep, Prepared[GenerationItem | SessionItem], LMOutput, SampledToken]
Disconnected = Callable[[], Awaitable[bool]]


def draw_seed() -> int:
    return random.SystemRandom().randrange(2**63)


def first_step(request: GenerateRequest, seed: int | None, start: State | None = None) -> GenerationStep:
    generator = torch.Generator().manual_seed(seed or 0)  # greedy (no seed) never draws from it
    return GenerationStep(request.prompt, request.temperature, request.top_k, generator, start=start)


def render(tokens: list[SampledToken]) -> str:
    """Words joined by spaces; each <eos> ends a line."""
    text = " ".join("\n" if token.end_of_sentence else token.word for token in tokens)
    return "\n".join(line.strip() for line in text.split("\n"))


async def generate_tokens(
    model: GenerationModel,
    step: GenerationStep,
    max_new_tokens: int,
    context: RequestContext,
    disconnected: Disconnected,
) -> AsyncIterator[SampledToken]:
    """Yield new tokens one by one; stops early if the client leaves. Every step carries the request's
    deadline, so the deadline bounds the whole generation: a step that cannot start before it is 504
    (a stream ends with a deadline_exceeded event)."""
    with model.lease.held():  # every step on the version that admitted the request, even across a swap
        for _ in range(max_new_tokens):
            token = await model.run(step, context)
            yield token
            if await disconnected():
                return
            step = step.after(token)
            context = replace(context, admitted=True)  # admitted: its deadline alone bounds it


@dataclass(frozen=True)
class Generation:
    """One generate request under way: nothing runs until `tokens` is read."""

    model: GenerationModel
    seed: int | None  # None for greedy: nothing is drawn
    tokens: AsyncIterator[SampledToken]

    async def collect(self) -> GenerateResponse:
        """Every token, as /v1/generate answers without `stream`."""
        generated = [token async for token in self.tokens]
        return GenerateResponse(
            model=self.model.name,
            version=self.model.card.version,
            generated_text=render(generated),
            tokens=[token.word for token in generated],
            seed=self.seed,
        )


class TextGenerator:
    """Starts generations on the registry's language models."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    def start(
        self,
        context: RequestContext,
        body: GenerateRequest,
        disconnected: Disconnected,
        from_state: State | None = None,
    ) -> Generation:
        """The model, the seed and the tokens to come of one generate request. `from_state`, a session's,
        takes the place of the prompt."""
        model = self.registry.resolve(body.model, GenerationPredictor)
        seed = None if body.temperature == 0 else body.seed if body.seed is not None else draw_seed()
        context.log_fields["max_new_tokens"] = body.max_new_tokens
        first = first_step(body, seed, from_state)
        tokens = generate_tokens(model, first, body.max_new_tokens, context, disconnected)
        return Generation(model, seed, tokens)


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
