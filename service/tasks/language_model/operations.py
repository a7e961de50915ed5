"""The language model's operations, each a predictor over its runner: next word, perplexity, one generation
step and one session step. Each turns its request into one item of an explicit kind (items.py)."""

import math
from dataclasses import dataclass, replace

import torch

from models.language_model import State
from service.runtime.contract import Predictor, Prepared, PreparedT, RequestT, ResponseT
from service.schemas.language_model import (
    NextWordRequest,
    NextWordResponse,
    PerplexityRequest,
    PerplexityResponse,
    WordProbability,
)
from service.tasks.language_model.items import (
    Context,
    GenerationItem,
    LMOutput,
    NextWordItem,
    PerplexityItem,
    SessionItem,
)
from service.tasks.language_model.runner import LanguageModelRunner
from service.tasks.text_rules import no_words


@dataclass(frozen=True)
class PreparedContext(Prepared[NextWordItem]):
    context: Context  # the words fed, for the response


@dataclass(frozen=True)
class PreparedSession(Prepared[SessionItem]):
    unknown_words: list[str]  # of the text fed, for the response


class LanguageModelOperation(Predictor[RequestT, PreparedT, LMOutput, ResponseT]):
    """An operation over the language model's runner: next word, perplexity, a generation or a session
    step."""

    task = "language-model"

    def __init__(self, runner: LanguageModelRunner) -> None:
        super().__init__(runner)
        self.lm = runner


class NextWordPredictor(LanguageModelOperation[NextWordRequest, PreparedContext, NextWordResponse]):
    def preprocess(self, request: NextWordRequest) -> PreparedContext:
        context = self.lm.context(request.text, "text")
        sizes = {"chars": len(request.text), "tokens": len(context.token_ids)}
        return PreparedContext([self.lm.next_word_item(context)], sizes, context)

    def postprocess(
        self, request: NextWordRequest, prepared: PreparedContext, outputs: list[LMOutput]
    ) -> NextWordResponse:
        """The top-k words by the model's probabilities; <unk> and <eos> are left out of the ranking, not
        renormalized."""
        [output] = outputs
        if output.top is None:
            raise RuntimeError("a next-word item came back without its ranking")
        words = self.lm.words
        predictions = [WordProbability(word=words[i], probability=p) for i, p in output.top[: request.top_k]]
        return NextWordResponse(
            model=self.card.name,
            version=self.card.version,
            predictions=predictions,
            context=prepared.context.tokens,
            unknown_words=prepared.context.unknown_words,
        )


class PerplexityPredictor(
    LanguageModelOperation[PerplexityRequest, Prepared[PerplexityItem], PerplexityResponse]
):
    def preprocess(self, request: PerplexityRequest) -> Prepared[PerplexityItem]:
        item = self.lm.perplexity_item(self.lm.context(request.text, "text"))
        return Prepared([item], {"chars": len(request.text), "tokens": len(item.token_ids)})

    def postprocess(
        self, request: PerplexityRequest, prepared: Prepared[PerplexityItem], outputs: list[LMOutput]
    ) -> PerplexityResponse:
        """exp of the mean NLL per token, the closing <eos> included."""
        [output], [item] = outputs, prepared.items
        if output.nll is None:
            raise RuntimeError("a perplexity item came back without its negative log-likelihood")
        return PerplexityResponse(
            model=self.card.name,
            version=self.card.version,
            perplexity=math.exp(output.nll / len(item.targets)),
            token_count=len(item.targets),
            unknown_count=sum(1 for index in item.token_ids if index == self.lm.unk_id),
        )


@dataclass(frozen=True)
class SampledToken:
    token_id: int
    word: str
    end_of_sentence: bool  # the model's <eos>: shown as a line break
    state: State | None  # the state after feeding the step's item, to continue from


@dataclass(frozen=True)
class GenerationStep:
    """One step of one generation: the prompt first, then the token sampled last, from its state.
    Each generation samples with its own seeded generator, so batch mates never change its text."""

    prompt: str
    temperature: float
    top_k: int
    generator: torch.Generator
    previous: SampledToken | None = None
    start: State | None = None  # a session's state to go on from, in place of the prompt

    def after(self, token: SampledToken) -> "GenerationStep":
        return replace(self, previous=token)


class GenerationPredictor(
    LanguageModelOperation[GenerationStep, Prepared[GenerationItem | SessionItem], SampledToken]
):
    """A generation runs this operation once per new token (generation.py); each step is one batcher item."""

    def preprocess(self, request: GenerationStep) -> Prepared[GenerationItem | SessionItem]:
        """The first step feeds the prompt after an implicit <eos> (an empty prompt starts a new sentence)."""
        if request.previous is not None:
            return Prepared([GenerationItem([request.previous.token_id], state=request.previous.state)], {})
        if request.start is not None:  # a session's first step: its state already predicts the next token
            return Prepared([SessionItem([], state=request.start, targets=[])], {})
        context = self.lm.context(request.prompt, "prompt", allow_empty=True)
        item = GenerationItem([self.lm.eos_id, *context.token_ids], state=None)
        return Prepared([item], {"chars": len(request.prompt), "tokens": len(context.token_ids)})

    def postprocess(
        self,
        request: GenerationStep,
        prepared: Prepared[GenerationItem | SessionItem],
        outputs: list[LMOutput],
    ) -> SampledToken:
        [output] = outputs
        if output.log_probs is None:
            raise RuntimeError("a generation step came back without log-probabilities")
        token_id = self.lm.sample(output.log_probs, request.temperature, request.top_k, request.generator)
        return SampledToken(token_id, self.lm.words[token_id], token_id == self.lm.eos_id, output.state)


@dataclass(frozen=True)
class SessionStep:
    """Feed `text` (or `tokens`, generated words being committed) from a session's `state`; None starts
    a session, after an implicit <eos>. Every word fed is scored."""

    text: str
    state: State | None
    tokens: list[str] | None = None  # the model's own words, fed as they are


@dataclass(frozen=True)
class SessionStepResult:
    nll: float  # summed over the words fed
    scored: int  # how many
    top: list[tuple[str, float]]  # the next word's likeliest words, <unk> and <eos> left out
    state: State  # after the last token fed
    unknown_words: list[str]


class SessionStepPredictor(LanguageModelOperation[SessionStep, PreparedSession, SessionStepResult]):
    """One session step (session_flow.py) as one batcher item."""

    def preprocess(self, request: SessionStep) -> PreparedSession:
        if request.tokens is not None:
            words, unknown = [self.lm.vocabulary[word] for word in request.tokens], []
        else:
            context = self.lm.context(request.text, "text", checked=False)  # unknown words are fed as <unk>
            words, unknown = context.token_ids, context.unknown_words
            if not words and request.state is not None:  # a start may be empty: a new sentence
                raise no_words([["body", "text"]])
        fed = words if request.state is not None else [self.lm.eos_id, *words]
        item = SessionItem(fed, state=request.state, targets=words)
        return PreparedSession([item], {"chars": len(request.text), "tokens": len(words)}, unknown)

    def postprocess(
        self, request: SessionStep, prepared: PreparedSession, outputs: list[LMOutput]
    ) -> SessionStepResult:
        [output], [item] = outputs, prepared.items
        if output.nll is None or output.top is None or output.state is None:
            raise RuntimeError("a session item came back without its score, ranking or state")
        top = [(self.lm.words[index], probability) for index, probability in output.top]
        return SessionStepResult(output.nll, len(item.targets), top, output.state, prepared.unknown_words)
