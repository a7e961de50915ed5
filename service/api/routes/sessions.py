"""Language-model sessions (service/tasks/language_model/session_flow.py does the work).

POST /v1/sessions starts one; POST /v1/sessions/{id}/append and /generate go on from its state; GET and
DELETE read and end it. POST /v1/sessions/append and /generate do the same from a state token in the
body instead, on any replica with the same key and model version.
"""

from collections.abc import AsyncGenerator
from enum import Enum

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from service.api.body import read_body
from service.api.deps import json_response, request_context, sessions_of
from service.api.errors import documented_errors
from service.api.openapi import STREAM_RESPONSE, request_body, retry_safe
from service.api.router import v1
from service.errors import ErrorResponse
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
from service.tasks.language_model.session_flow import SessionGeneration, info

TAGS: list[str | Enum] = ["sessions"]
ERRORS = documented_errors(
    ErrorResponse,
    {
        400: "a state token altered, signed under another key, or sent while tokens are off (invalid_state)",
        404: "no live session of that id (session_not_found), or no model of that name (model_not_found)",
        409: "another call on the session is running (session_busy); "
        "a token of another model version (version_mismatch)",
        410: "the state token expired (state_expired)",
        429: "the server holds RNNSERVE_MAX_SESSIONS sessions (too_many_sessions), "
        "or the model's queue is full; see Retry-After",
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


@v1.post(
    "/sessions",
    tags=TAGS,
    response_model=SessionAnswer,
    responses=ERRORS,
    openapi_extra=request_body(SessionStartRequest),
    description="Start a session: feed the prompt (if any) after an implicit <eos>; answers "
    "its id, the next words and a state token.",
)
async def start_session(request: Request) -> Response:
    context = request_context(request)
    body = await read_body(request, SessionStartRequest)
    sessions = sessions_of(request)
    session_id, session, result = await sessions.start(context, body.model, body.prompt)
    return json_response(sessions.reply(session_id, session, result, body.top_k))


@v1.post(
    "/sessions/append",
    tags=TAGS,
    response_model=SessionAnswer,
    responses=ERRORS,
    openapi_extra=retry_safe(StateAppendRequest),
)
async def append_to_state(request: Request) -> Response:
    """Feed text from a state token; answers the next words, the running perplexity and a new token."""
    context = request_context(request)
    body = await read_body(request, StateAppendRequest)
    sessions = sessions_of(request)
    session, result = await sessions.append_to_token(context, body.state, body.text)
    return json_response(sessions.reply(None, session, result, body.top_k))


@v1.post(
    "/sessions/generate",
    tags=TAGS,
    response_model=SessionGenerateAnswer,
    responses={**ERRORS, 200: STREAM_RESPONSE},
    openapi_extra=retry_safe(StateGenerateRequest),
    description="Generate from a state token, as /v1/generate; with `commit`, the new "
    "token includes what was generated.",
)
async def generate_from_state(request: Request) -> Response:
    context = request_context(request)
    body = await read_body(request, StateGenerateRequest)
    generation = sessions_of(request).generate_from_token(context, body.state, body, request.is_disconnected)
    return await respond(generation, body.stream)


@v1.get("/sessions/{session_id}", tags=TAGS, response_model=SessionInfo, responses=ERRORS)
async def read_session(session_id: str, request: Request) -> SessionInfo:
    """The session's token count, running perplexity and expiry."""
    return SessionInfo(**info(session_id, sessions_of(request).store.get(session_id)))


@v1.delete("/sessions/{session_id}", tags=TAGS, status_code=204, responses=ERRORS)
async def end_session(session_id: str, request: Request) -> Response:
    sessions_of(request).store.delete(session_id)
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
    context = request_context(request)
    body = await read_body(request, SessionAppendRequest)
    sessions = sessions_of(request)
    session, result = await sessions.append(context, session_id, body.text)
    return json_response(sessions.reply(session_id, session, result, body.top_k))


@v1.post(
    "/sessions/{session_id}/generate",
    tags=TAGS,
    response_model=SessionGenerateAnswer,
    responses={**ERRORS, 200: STREAM_RESPONSE},
    openapi_extra=request_body(SessionGenerateRequest),
    description="Generate from the session's state, as /v1/generate (streamed too); "
    "`commit` says whether the tokens join it.",
)
async def generate_in_session(session_id: str, request: Request) -> Response:
    context = request_context(request)
    body = await read_body(request, SessionGenerateRequest)
    generation = sessions_of(request).generate_in_session(context, session_id, body, request.is_disconnected)
    return await respond(generation, body.stream)


async def respond(generation: SessionGeneration, stream: bool) -> Response:
    """The generation as JSON, or as server-sent events."""
    if not stream:
        return json_response(await generation.reply())
    return ClosingStream(await generation.stream())
