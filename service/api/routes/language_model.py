"""POST /v1/next-word, /v1/generate (optionally streamed) and /v1/perplexity."""

import json
import math
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from service.api.deps import InferenceDep, record_sizes, require_api_key
from service.errors import ERROR_RESPONSES, ErrorBody, ErrorResponse, ServiceError
from service.generation import GenerationSettings, draw_seed, generate_tokens, render
from service.predictors.language_model import LanguageModelPredictor, LMOutput
from service.registry import ModelEntry, ModelRegistry
from service.schemas.language_model import (
    GenerateRequest,
    GenerateResponse,
    NextWordRequest,
    NextWordResponse,
    PerplexityRequest,
    PerplexityResponse,
    WordProbability,
)

router = APIRouter(prefix="/v1", tags=["language model"], dependencies=[Depends(require_api_key)], responses=ERROR_RESPONSES)
TASK = "language-model"


def language_model(registry: ModelRegistry, name: str | None) -> tuple[ModelEntry, LanguageModelPredictor]:
    entry = registry.resolve(name, TASK)
    assert isinstance(entry.predictor, LanguageModelPredictor) and entry.batcher is not None and entry.card is not None
    return entry, entry.predictor


@router.post("/next-word", response_model=NextWordResponse)
async def predict_next_word(body: NextWordRequest, request: Request, inference: InferenceDep) -> NextWordResponse:
    """The top-k next words after the context, with the model's probabilities."""
    record_sizes(request, chars=len(body.text))
    entry, predictor = language_model(inference.registry, body.model)
    context = predictor.context(body.text, "text")
    record_sizes(request, tokens=len(context.token_ids))
    (output,) = await entry.batcher.submit([predictor.next_word_item(context)], inference.deadline)  # type: ignore[union-attr]
    assert isinstance(output, LMOutput) and output.log_probs is not None
    probabilities = output.log_probs.exp()
    probabilities[[predictor.unk_id, predictor.eos_id]] = -1.0  # left out of the ranking, probabilities kept as they are
    top = probabilities.topk(body.top_k)
    predictions = [
        WordProbability(word=predictor.words[i], probability=p)
        for p, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)
    ]
    return NextWordResponse(
        model=entry.name,
        version=entry.card.version,
        predictions=predictions,
        context=context.tokens,
        unknown_words=context.unknown_words,  # type: ignore[union-attr]
    )


@router.post("/perplexity", response_model=PerplexityResponse)
async def score_perplexity(body: PerplexityRequest, request: Request, inference: InferenceDep) -> PerplexityResponse:
    """Perplexity of the text: exp of the mean NLL per token, the closing <eos> included."""
    record_sizes(request, chars=len(body.text))
    entry, predictor = language_model(inference.registry, body.model)
    context = predictor.context(body.text, "text")
    item = predictor.perplexity_item(context)
    record_sizes(request, tokens=len(item.token_ids))
    (output,) = await entry.batcher.submit([item], inference.deadline)  # type: ignore[union-attr]
    assert isinstance(output, LMOutput) and output.nll is not None and item.targets is not None
    return PerplexityResponse(
        model=entry.name,
        version=entry.card.version,  # type: ignore[union-attr]
        perplexity=math.exp(output.nll / len(item.targets)),
        token_count=len(item.targets),
        unknown_count=sum(1 for i in context.token_ids if i == predictor.unk_id),
    )


@router.post(
    "/generate",
    response_model=GenerateResponse,
    responses={
        200: {"content": {"text/event-stream": {"description": "with stream: one event per token, the last with generated_text"}}}
    },
)
async def generate_text(body: GenerateRequest, request: Request, inference: InferenceDep) -> GenerateResponse | StreamingResponse:
    """Continue the prompt; with `stream`, as server-sent events (TGI's shape)."""
    record_sizes(request, chars=len(body.prompt), max_new_tokens=body.max_new_tokens)
    entry, predictor = language_model(inference.registry, body.model)
    seed = body.seed if body.seed is not None else draw_seed()
    generation = GenerationSettings(body.prompt, body.max_new_tokens, body.temperature, body.top_k, seed)
    tokens = generate_tokens(
        predictor, entry.batcher, generation, inference.deadline, inference.settings.request_timeout_s, request.is_disconnected
    )  # type: ignore[arg-type]
    if body.stream:
        return StreamingResponse(_events(tokens, predictor.eos_token, body.max_new_tokens), media_type="text/event-stream")
    words = [token async for token in tokens]
    return GenerateResponse(
        model=entry.name,
        version=entry.card.version,
        generated_text=render(words, predictor.eos_token),
        tokens=words,
        seed=seed,  # type: ignore[union-attr]
    )


async def _events(tokens: AsyncIterator[str], eos_token: str, count: int) -> AsyncIterator[str]:
    """One event per token; the last carries the whole text. A failure mid-stream (the status is
    already sent) ends the stream with an event in the usual error shape."""
    words: list[str] = []
    try:
        async for token in tokens:
            words.append(token)
            final = render(words, eos_token) if len(words) == count else None
            yield f"data: {json.dumps({'token': {'text': token}, 'generated_text': final})}\n\n"
    except ServiceError as error:
        body = ErrorResponse(error=ErrorBody(code=error.code, message=error.message, details=error.details))
        yield f"data: {body.model_dump_json()}\n\n"
