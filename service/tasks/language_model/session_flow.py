"""What each session call does, step by step (sessions.py holds the store and the token codec).

Every step (start, append, the first step of a generation, a commit) runs as one session-step item
through the model's batcher. A server-side session is held for the length of a call, so a second call
meanwhile is 409; a state-token call holds nothing. The routes (service/api/routes/sessions.py) and the
Open Inference Protocol's sequences (service/tasks/oip/language_model.py) only convert to and from these.
"""

import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import torch

from service.errors import InvalidState, VersionMismatch
from service.runtime.model import ReadyModel, RequestContext
from service.runtime.registry import ModelRegistry
from service.schemas.language_model import GenerateRequest, WordProbability
from service.schemas.sessions import SessionAnswer, SessionGenerateAnswer, SessionGenerateRequest
from service.tasks.language_model import generation
from service.tasks.language_model.generation import Disconnected, Generation, TextGenerator
from service.tasks.language_model.items import LMOutput
from service.tasks.language_model.operations import (
    PreparedSession,
    SampledToken,
    SessionStep,
    SessionStepPredictor,
    SessionStepResult,
)
from service.tasks.language_model.sessions import Session, SessionStore
from service.tasks.language_model.state_tokens import StateCodec

SessionModel = ReadyModel[SessionStep, PreparedSession, LMOutput, SessionStepResult]
Step = tuple[Session, SessionStepResult]  # the session after a step, and what the step gave


def info(session_id: str | None, session: Session) -> dict[str, Any]:
    """The fields every session answer shares."""
    return {
        "session_id": session_id,
        "model": session.model,
        "version": session.version,
        "token_count": session.token_count,
        "perplexity": session.perplexity,
        "expires_at": session.expires_at,
    }


def require_same_version(model: SessionModel, before: Session) -> None:
    """A session's state is the hidden state of the version that made it: another version (a reload since)
    cannot continue it."""
    if before.version != model.card.version:
        raise VersionMismatch(
            f"the session is of model {before.model!r} version {before.version!r}; this server now serves "
            f"{model.card.version!r}: start a new session"
        )


class SessionFlow:
    def __init__(
        self,
        registry: ModelRegistry,
        store: SessionStore,
        codec: StateCodec | None,
        generator: TextGenerator,
        ttl_s: float,
    ) -> None:
        self.registry, self.store, self.codec, self.generator, self.ttl_s = (
            registry,
            store,
            codec,
            generator,
            ttl_s,
        )

    async def feed(
        self, context: RequestContext, model: SessionModel, before: Session | None, step: SessionStep
    ) -> Step:
        """Run one step through the model's batcher; the session after it, its expiry renewed."""
        result = await model.run(step, context)
        count, nll = (before.token_count, before.nll) if before else (0, 0.0)
        expires_at = time.time() + self.ttl_s
        after = Session(
            model.name, model.card.version, result.state, count + result.scored, nll + result.nll, expires_at
        )
        return after, result

    async def start(
        self, context: RequestContext, model_name: str | None, prompt: str, session_id: str | None = None
    ) -> tuple[str, Session, SessionStepResult]:
        """A new server-side session fed `prompt` after an implicit <eos>, kept under a new id (or
        `session_id`)."""
        model = self.registry.resolve(model_name, SessionStepPredictor)
        session, result = await self.feed(context, model, None, SessionStep(prompt, None))
        return self.store.add(session, session_id), session, result

    async def append(self, context: RequestContext, session_id: str, text: str) -> Step:
        """Feed `text` to a held server-side session (409 if it is in another call) and keep what comes
        out."""
        before = self.store.hold(session_id)
        after: Session | None = None
        try:
            model = self.registry.resolve(before.model, SessionStepPredictor)
            require_same_version(model, before)
            after, result = await self.feed(context, model, before, SessionStep(text, before.state))
        finally:
            self.store.release(session_id, after)
        return after, result

    async def append_to_token(self, context: RequestContext, token: str, text: str) -> Step:
        model, before = self.from_token(token)
        return await self.feed(context, model, before, SessionStep(text, before.state))

    def from_token(self, text: str) -> tuple[SessionModel, Session]:
        """The model a state token names and the session it holds: its signature first, then its contents."""
        if self.codec is None:
            raise InvalidState("state tokens are off: this server has no RNNSERVE_SESSION_KEY")
        token = self.codec.open(text)
        model = self.registry.resolve(token.model, SessionStepPredictor)
        return model, self.codec.session(token, model.card, torch.device(str(self.registry.device)))

    def reply(
        self, session_id: str | None, session: Session, result: SessionStepResult, top_k: int
    ) -> SessionAnswer:
        """The answer to a start or an append: the next words and, with tokens on, a new state token."""
        return SessionAnswer(
            **info(session_id, session),
            predictions=[WordProbability(word=word, probability=p) for word, p in result.top[:top_k]],
            unknown_words=result.unknown_words,
            state=self.codec.encode(session) if self.codec else None,
        )

    def generate_in_session(
        self,
        context: RequestContext,
        session_id: str,
        body: SessionGenerateRequest,
        disconnected: Disconnected,
    ) -> "SessionGeneration":
        """Generate from a held server-side session; it is released with what the call leaves, exactly
        once."""
        before = self.store.hold(session_id)
        try:
            model = self.registry.resolve(before.model, SessionStepPredictor)
            require_same_version(model, before)
        except BaseException:
            self.store.release(session_id, None)
            raise
        return self._generation(
            context, model, session_id, before, body, disconnected, self._releaser(session_id)
        )

    def generate_from_token(
        self, context: RequestContext, token: str, body: SessionGenerateRequest, disconnected: Disconnected
    ) -> "SessionGeneration":
        model, before = self.from_token(token)
        return self._generation(context, model, None, before, body, disconnected, lambda _: None)

    def _releaser(self, session_id: str) -> Callable[[Session], None]:
        return lambda after: self.store.release(session_id, after)

    def _generation(
        self,
        context: RequestContext,
        model: SessionModel,
        session_id: str | None,
        before: Session,
        body: SessionGenerateRequest,
        disconnected: Disconnected,
        on_done: Callable[[Session], None],
    ) -> "SessionGeneration":
        asked = GenerateRequest(
            model=model.name,
            max_new_tokens=body.max_new_tokens,
            temperature=body.temperature,
            top_k=body.top_k,
            seed=body.seed,
        )
        try:
            started = self.generator.start(context, asked, disconnected, from_state=before.state)
        except BaseException:
            on_done(before)
            raise
        return SessionGeneration(self, context, model, session_id, before, body, started, on_done)


class SessionGeneration:
    """A generation from a session's state; with `commit`, the new tokens are fed as one more session step.
    `on_done` gets the session after the call exactly once: when the answer is ready, when a stream ends,
    or on a failure."""

    def __init__(
        self,
        flow: SessionFlow,
        context: RequestContext,
        model: SessionModel,
        session_id: str | None,
        before: Session,
        body: SessionGenerateRequest,
        started: Generation,
        on_done: Callable[[Session], None],
    ) -> None:
        self.flow, self.context, self.model, self.session_id = flow, context, model, session_id
        self.before, self.body, self.started, self.on_done = before, body, started, on_done

    async def reply(self) -> SessionGenerateAnswer:
        """Every token, then the commit: the whole answer at once."""
        after = self.before
        try:
            generated = [token async for token in self.started.tokens]
            after = await self._commit(generated)
            return self._finished(after, generated)
        finally:
            self.on_done(after)

    async def stream(self) -> AsyncGenerator[str, None]:
        """Server-sent events, as /v1/generate's, then one with the session. The first token comes before the
        stream starts, so a refusal keeps its status."""
        try:
            opening = await anext(self.started.tokens)
        except BaseException:
            self.on_done(self.before)
            raise
        return self._events(opening)

    async def _events(self, opening: SampledToken) -> AsyncGenerator[str, None]:
        after = self.before
        recorded = [opening]

        async def recording() -> AsyncIterator[SampledToken]:
            async for token in self.started.tokens:
                recorded.append(token)
                yield token

        try:
            async for event in generation.events(opening, recording(), self.body.max_new_tokens):
                yield event
            after = await self._commit(recorded)
            yield f"data: {json.dumps({'session': self._finished(after, recorded).model_dump()})}\n\n"
        finally:
            self.on_done(after)

    async def _commit(self, generated: list[SampledToken]) -> Session:
        if not self.body.commit or not generated:
            return self.before
        step = SessionStep("", self.before.state, tokens=[token.word for token in generated])
        # The request's deadline bounds the commit too, as it bounds every step of the admitted call.
        committed, _ = await self.flow.feed(
            replace(self.context, admitted=True), self.model, self.before, step
        )
        return committed

    def _finished(self, session: Session, generated: list[SampledToken]) -> SessionGenerateAnswer:
        codec = self.flow.codec
        return SessionGenerateAnswer(
            **info(self.session_id, session),
            generated_text=generation.render(generated),
            tokens=[token.word for token in generated],
            seed=self.started.seed,
            committed=self.body.commit,
            state=codec.encode(session) if codec else None,
        )
