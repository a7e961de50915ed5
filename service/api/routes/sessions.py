"""Language-model sessions (service/sessions.py).

POST /v1/sessions starts one; POST /v1/sessions/{id}/append and /generate go on from its state; GET and
DELETE read and end it. POST /v1/sessions/append and /generate do the same from a state token in the
body instead, on any replica with the same key and model version.
"""

import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import replace
from enum import Enum
from typing import Any

import torch
from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.types import Receive, Scope, Send

from service import generation
from service.api.body import read_body, request_body
from service.api.deps import inference_of, json_response
from service.api.router import v1
from service.api.routes.language_model import STREAM_RESPONSE
from service.errors import ErrorResponse, InvalidState, documented_errors
from service.pipeline import Inference
from service.predictors.language_model import SampledToken, SessionStep, SessionStepPredictor, SessionStepResult
from service.schemas.language_model import GenerateRequest, WordProbability
from service.schemas.sessions import (
    SessionAnswer,
    SessionAppendRequest,
    SessionGenerateAnswer,
    SessionGenerateRequest,
    SessionInfo,
    SessionStartRequest,
    StateAppendRequest,
    StateGenerateRequest,
)
from service.sessions import Session, SessionModel, SessionStore, StateCodec, append_to, feed, token_model

TAGS: list[str | Enum] = ["sessions"]
ERRORS = documented_errors(
    ErrorResponse,
    {
        400: "a state token altered, signed under another key, or sent while tokens are off (invalid_state)",
        404: "no live session of that id (session_not_found), or no model of that name (model_not_found)",
        409: "another call on the session is running (session_busy); a token of another model version (version_mismatch)",
        410: "the state token expired (state_expired)",
        429: "the server holds RNNSERVE_MAX_SESSIONS sessions (too_many_sessions), or the model's queue is full; see Retry-After",
    },
)


class ClosingStream(StreamingResponse):
    """Server-sent events whose generator is closed as soon as the response ends, also when the client left
    mid-stream: its `finally`, which releases the held session, then runs at once, not whenever the suspended
    generator happens to be collected (until then the session would answer 409)."""

    def __init__(self, events: AsyncGenerator[str, None]) -> None:
        super().__init__(events, media_type="text/event-stream")
        self.events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.events.aclose()


def stateless(body_model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` of a state-token route: it keeps nothing on the server, so a balancer may resend it."""
    return {**request_body(body_model), "x-retry-safe": True}


def store_of(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.sessions
    return store


def codec_of(request: Request) -> StateCodec | None:
    codec: StateCodec | None = request.app.state.state_codec
    return codec


def info(session_id: str | None, session: Session) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "model": session.model,
        "version": session.version,
        "token_count": session.token_count,
        "perplexity": session.perplexity,
        "expires_at": session.expires_at,
    }


def answer(request: Request, session_id: str | None, session: Session, result: SessionStepResult, top_k: int) -> Response:
    codec = codec_of(request)
    body = SessionAnswer(
        **info(session_id, session),
        predictions=[WordProbability(word=word, probability=p) for word, p in result.top[:top_k]],
        unknown_words=result.unknown_words,
        state=codec.encode(session) if codec else None,
    )
    return json_response(body)


def from_token(request: Request, inference: Inference, token: str) -> tuple[SessionModel, Session]:
    codec = codec_of(request)
    if codec is None:
        raise InvalidState("state tokens are off: this server has no RNNSERVE_SESSION_KEY")
    model = inference.registry.resolve(token_model(token), SessionStepPredictor)
    device = torch.device(str(inference.registry.device))
    return model, codec.decode(token, model.card.version, device)


@v1.post("/sessions", tags=TAGS, response_model=SessionAnswer, responses=ERRORS, openapi_extra=request_body(SessionStartRequest))
async def start_session(request: Request) -> Response:
    """Start a session: feed the prompt (if any) after an implicit <eos>; answers its id, the next words and a state token."""
    inference = inference_of(request)
    body = await read_body(request, SessionStartRequest)
    model = inference.registry.resolve(body.model, SessionStepPredictor)
    session, result = await feed(inference, model, None, SessionStep(body.prompt, None))
    session_id = store_of(request).add(session)
    return answer(request, session_id, session, result, body.top_k)


@v1.post(
    "/sessions/append", tags=TAGS, response_model=SessionAnswer, responses=ERRORS, openapi_extra=stateless(StateAppendRequest)
)
async def append_to_state(request: Request) -> Response:
    """Feed text from a state token; answers the next words, the running perplexity and a new token."""
    inference = inference_of(request)
    body = await read_body(request, StateAppendRequest)
    model, before = from_token(request, inference, body.state)
    session, result = await feed(inference, model, before, SessionStep(body.text, before.state))
    return answer(request, None, session, result, body.top_k)


@v1.post(
    "/sessions/generate",
    tags=TAGS,
    response_model=SessionGenerateAnswer,
    responses={**ERRORS, 200: STREAM_RESPONSE},
    openapi_extra=stateless(StateGenerateRequest),
)
async def generate_from_state(request: Request) -> Response:
    """Generate from a state token, as /v1/generate; with `commit`, the new token includes what was generated."""
    inference = inference_of(request)
    body = await read_body(request, StateGenerateRequest)
    model, before = from_token(request, inference, body.state)
    return await generate(request, inference, model, None, before, body, on_done=lambda _: None)


@v1.get("/sessions/{session_id}", tags=TAGS, response_model=SessionInfo, responses=ERRORS)
async def read_session(session_id: str, request: Request) -> SessionInfo:
    """The session's token count, running perplexity and expiry."""
    return SessionInfo(**info(session_id, store_of(request).get(session_id)))


@v1.delete("/sessions/{session_id}", tags=TAGS, status_code=204, responses=ERRORS)
async def end_session(session_id: str, request: Request) -> Response:
    store_of(request).delete(session_id)
    return Response(status_code=204)


@v1.post(
    "/sessions/{session_id}/append",
    tags=TAGS,
    response_model=SessionAnswer,
    responses=ERRORS,
    openapi_extra=request_body(SessionAppendRequest),
)
async def append_to_session(session_id: str, request: Request) -> Response:
    """Feed text to the session; answers the next words and the running perplexity of everything fed."""
    inference = inference_of(request)
    body = await read_body(request, SessionAppendRequest)
    after, result = await append_to(inference, store_of(request), session_id, body.text)
    return answer(request, session_id, after, result, body.top_k)


@v1.post(
    "/sessions/{session_id}/generate",
    tags=TAGS,
    response_model=SessionGenerateAnswer,
    responses={**ERRORS, 200: STREAM_RESPONSE},
    openapi_extra=request_body(SessionGenerateRequest),
)
async def generate_in_session(session_id: str, request: Request) -> Response:
    """Generate from the session's state, as /v1/generate (streamed too); `commit` says whether the tokens join it."""
    inference = inference_of(request)
    body = await read_body(request, SessionGenerateRequest)
    store = store_of(request)
    before = store.hold(session_id)
    try:
        model = inference.registry.resolve(before.model, SessionStepPredictor)
    except BaseException:
        store.release(session_id, None)
        raise
    return await generate(request, inference, model, session_id, before, body, lambda after: store.release(session_id, after))


async def generate(
    request: Request,
    inference: Inference,
    model: SessionModel,
    session_id: str | None,
    before: Session,
    body: SessionGenerateRequest,
    on_done: Callable[[Session], None],
) -> Response:
    """Generate from `before`; with `commit`, feed the new tokens as one more session step. `on_done` gets the
    session after the call exactly once: when the answer is ready, when a stream ends, or on a failure."""
    asked = GenerateRequest(
        model=model.name, max_new_tokens=body.max_new_tokens, temperature=body.temperature, top_k=body.top_k, seed=body.seed
    )
    codec = codec_of(request)
    after = before
    streaming = False

    async def commit(generated: list[SampledToken]) -> Session:
        if not body.commit or not generated:
            return before
        step = SessionStep("", before.state, tokens=[token.word for token in generated])
        # A fresh deadline, as each generation step gets: the request's own bounded its first step only.
        fresh = replace(inference, deadline=time.monotonic() + inference.settings.request_timeout_s)
        committed, _ = await feed(fresh, model, before, step)
        return committed

    def finished(session: Session, generated: list[SampledToken]) -> SessionGenerateAnswer:
        return SessionGenerateAnswer(
            **info(session_id, session),
            generated_text=generation.render(generated),
            tokens=[token.word for token in generated],
            seed=seed,
            committed=body.commit,
            state=codec.encode(session) if codec else None,
        )

    try:
        _, seed, tokens = generation.start(inference, asked, request.is_disconnected, from_state=before.state)
        if not body.stream:
            generated = [token async for token in tokens]
            after = await commit(generated)
            return json_response(finished(after, generated))
        opening = await anext(tokens)  # a refusal before the first token keeps its status, as /v1/generate
        recorded = [opening]

        async def recording() -> AsyncIterator[SampledToken]:
            async for token in tokens:
                recorded.append(token)
                yield token

        async def stream() -> AsyncGenerator[str, None]:
            nonlocal after
            try:
                async for event in generation.events(opening, recording(), body.max_new_tokens):
                    yield event
                after = await commit(recorded)
                yield f"data: {json.dumps({'session': finished(after, recorded).model_dump()})}\n\n"
            finally:
                on_done(after)

        streaming = True
        return ClosingStream(stream())
    finally:
        if not streaming:
            on_done(after)
