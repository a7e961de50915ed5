"""Language model: next word, perplexity, and one generation step at a time.

One runner holds the network, the vocabulary and the batched forward; three predictors over it
shape next-word, perplexity and generation-step requests.

Every request becomes items of one kind for the batcher: feed `token_ids` from `state`
(None: a fresh start) and either score `targets` (perplexity) or return the log-probabilities
after the last token, with the new state when `keep_state` (generation).

Fresh items that need no state back (next word, perplexity) are right-padded into groups of
similar length: the LSTM is causal, so padding after a row's end changes none of its steps.
Items that carry or keep a state (generation) batch with items of equal length only, so
concurrent generations advance in one forward pass per step. Session items (service/sessions.py) do
all three: feed on from a state, score what they feed and rank the next word, keeping the state.
"""

import math
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from models.artifact import Artifact, ArtifactError
from models.card_io import LanguageModelIO
from models.language_model import LanguageModel, State
from models.text import pad_batch
from service.errors import ErrorDetail, InvalidInput
from service.predictors.base import (
    GROUP_LENGTH_RATIO,
    ModelRunner,
    Predictor,
    Prepared,
    PreparedT,
    RequestT,
    ResponseT,
    group_by_length,
    typed_io,
    typed_network,
)
from service.schemas.language_model import (
    MAX_TOP_K,
    NextWordRequest,
    NextWordResponse,
    PerplexityRequest,
    PerplexityResponse,
    WordProbability,
)

# Most token positions scored in one forward: their logits take positions x vocabulary x 4 bytes (160 MB here).
SCORING_POSITIONS = 4096


@dataclass(frozen=True)
class LMItem:
    token_ids: list[int]
    state: State | None = None  # per-item state, batch dimension of size 1
    targets: list[int] | None = None  # score these (one per token id) instead of returning log-probabilities
    keep_state: bool = False  # return the state after the last token, to continue from it
    # A session step: score `targets` (the first one from the state's own next-token logits), rank the
    # next word, return its log-probabilities and the state. It may feed no token at all (from a state).
    session: bool = False


@dataclass(frozen=True)
class LMOutput:
    log_probs: torch.Tensor | None  # (V,) after the last token: generation steps, which sample from it
    state: State | None
    nll: float | None  # summed negative log-likelihood of the targets: perplexity items
    top: list[tuple[int, float]] | None = None  # next-word items: the MAX_TOP_K likeliest ids, <unk> and <eos> left out


@dataclass(frozen=True)
class Context:
    token_ids: list[int]  # the normalized words as ids, <unk> for unknown ones
    tokens: list[str]  # what was fed, <unk> included
    unknown_words: list[str]


class LanguageModelRunner(ModelRunner[LMItem, LMOutput]):
    task = "language-model"

    def __init__(self, artifact: Artifact, device: torch.device) -> None:
        super().__init__(artifact, device)
        if artifact.tokenizer is None:
            raise ArtifactError(artifact.card.name, "a language model needs its tokenizer.json")
        self.tokenizer = artifact.tokenizer
        self.io = typed_io(self.card, LanguageModelIO)
        self.network = typed_network(artifact, LanguageModel).to(device)
        vocabulary = self.tokenizer.get_vocab()
        self.words = sorted(vocabulary, key=vocabulary.__getitem__)
        self.vocabulary = {word: index for index, word in enumerate(self.words)}
        for special in (self.io.eos_token, self.io.unk_token):
            if special not in self.vocabulary:
                raise ArtifactError(self.card.name, f"special token {special!r} of io is not in tokenizer.json")
        self.eos_token, self.unk_token = self.io.eos_token, self.io.unk_token
        self.eos_id, self.unk_id = self.vocabulary[self.eos_token], self.vocabulary[self.unk_token]

    def context(self, text: str, field: str, allow_empty: bool = False) -> Context:
        """Normalize as the corpus was prepared; refuse text with no known word unless `allow_empty`."""
        normalizer, pre_tokenizer = self.tokenizer.normalizer, self.tokenizer.pre_tokenizer
        normalized = normalizer.normalize_str(text) if normalizer else text
        words = [word for word, _ in pre_tokenizer.pre_tokenize_str(normalized)] if pre_tokenizer else normalized.split()
        token_ids = [self.vocabulary.get(word, self.unk_id) for word in words]
        unknown = [word for word, index in zip(words, token_ids, strict=True) if index == self.unk_id and word != self.unk_token]
        if not allow_empty:
            if not words:
                raise InvalidInput(
                    "the text has no words once normalized", [ErrorDetail(loc=["body", field], msg="empty after normalization")]
                )
            if all(index == self.unk_id for index in token_ids):
                raise InvalidInput(
                    "every word of the text is outside the vocabulary",
                    [ErrorDetail(loc=["body", field], msg=f"only unknown words: {unknown[:10]}")],
                )
        return Context(token_ids, [self.words[index] for index in token_ids], unknown)

    def forward(self, items: list[LMItem]) -> list[LMOutput]:
        outputs: list[LMOutput | None] = [None] * len(items)
        padded: dict[bool, list[int]] = {}  # scoring? -> indices of fresh items that need no state back
        exact: dict[tuple[int, bool], list[int]] = {}  # (length, fresh) -> indices
        sessions: dict[tuple[int, bool], list[int]] = {}  # (length, fresh) -> indices
        for index, item in enumerate(items):
            if item.session:
                sessions.setdefault((len(item.token_ids), item.state is None), []).append(index)
            elif item.state is None and not item.keep_state:
                padded.setdefault(item.targets is not None, []).append(index)
            else:
                exact.setdefault((len(item.token_ids), item.state is None), []).append(index)
        with torch.inference_mode():
            for scoring, members in padded.items():
                lengths = [len(items[i].token_ids) for i in members]
                for group in group_by_length(lengths, GROUP_LENGTH_RATIO):
                    # Scoring keeps logits for every position (B x T x vocabulary): bound B x T per forward.
                    budget = SCORING_POSITIONS if scoring else None
                    for chunk in _within_budget(group, lengths, budget):
                        chosen = [members[i] for i in chunk]
                        results = self._forward_padded([items[i] for i in chosen], scoring)
                        for index, output in zip(chosen, results, strict=True):
                            outputs[index] = output
            for (_, fresh), members in exact.items():
                for index, output in zip(members, self._forward_exact([items[i] for i in members], fresh), strict=True):
                    outputs[index] = output
            for (_, fresh), members in sessions.items():
                for index, output in zip(members, self._forward_session([items[i] for i in members], fresh), strict=True):
                    outputs[index] = output
        return [output for output in outputs if output is not None]

    def _forward_padded(self, items: list[LMItem], scoring: bool) -> list[LMOutput]:
        # Next-word contexts are padded to a multiple of 4 positions: fewer shapes for oneDNN's primitive cache.
        multiple = 1 if scoring else 4
        token_ids, lengths = pad_batch([item.token_ids for item in items], self.eos_id, multiple)  # (B, T), (B,)
        self.observe_padding(int(lengths.sum()), token_ids.numel())
        token_ids, lengths = token_ids.to(self.device), lengths.to(self.device)
        if scoring:
            logits, _ = self.network(token_ids)  # (B, T, V)
            log_probs = F.log_softmax(logits.float(), dim=-1)
            targets, _ = pad_batch([item.targets or [] for item in items], self.eos_id)  # (B, T)
            picked = log_probs.gather(-1, targets.to(self.device).unsqueeze(-1)).squeeze(-1)  # (B, T)
            real = torch.arange(picked.shape[1], device=self.device)[None, :] < lengths[:, None]  # (B, T)
            nll = -(picked * real).sum(dim=1)  # (B,)
            return [LMOutput(None, None, value) for value in nll.tolist()]
        logits, _ = self.network(token_ids, last_positions=lengths - 1)  # (B, 1, V)
        return [LMOutput(None, None, None, top) for top in self._rank(F.log_softmax(logits.float(), dim=-1)[:, 0])]

    def _rank(self, log_probs: torch.Tensor) -> list[list[tuple[int, float]]]:
        """Each row's MAX_TOP_K likeliest ids with their probabilities, <unk> and <eos> left out (the rest not
        renormalized). Done once for the whole batch: each request then takes its first top_k."""
        probabilities = log_probs.exp()  # (B, V), a copy
        probabilities[:, [self.unk_id, self.eos_id]] = -1.0
        top = probabilities.topk(min(MAX_TOP_K, probabilities.shape[-1]), dim=-1)  # (B, K), sorted
        ranked = zip(top.indices.tolist(), top.values.tolist(), strict=True)
        return [list(zip(ids, values, strict=True)) for ids, values in ranked]

    def _forward_session(self, items: list[LMItem], fresh: bool) -> list[LMOutput]:
        """Session items of one length. Afresh they feed <eos> and their words; from a state, their words,
        the first scored by the state's own next-token logits. Either way row j of `rows` predicts target j
        and the last row the next word."""
        state = None if fresh else _stack_states([item.state for item in items if item.state is not None])
        rows = [] if state is None else [self.network.next_logits(state)]  # (B, 1, V)
        if items[0].token_ids:
            token_ids = torch.tensor([item.token_ids for item in items], device=self.device)  # (B, T)
            logits, state = self.network(token_ids, state)  # (B, T, V)
            rows.append(logits)
        if state is None:
            raise RuntimeError("a fresh session item fed no token")
        log_probs = F.log_softmax(torch.cat(rows, dim=1).float(), dim=-1)  # (B, R, V)
        ranked = self._rank(log_probs[:, -1])
        outputs = []
        for row, item in enumerate(items):
            targets = torch.tensor(item.targets or [], dtype=torch.long, device=self.device)  # (N,)
            nll = -float(log_probs[row, : len(targets)].gather(-1, targets[:, None]).sum())
            outputs.append(LMOutput(log_probs[row, -1].cpu(), _select_state(state, row), nll, ranked[row]))
        return outputs

    def _forward_exact(self, items: list[LMItem], fresh: bool) -> list[LMOutput]:
        token_ids = torch.tensor([item.token_ids for item in items], device=self.device)  # (B, T), all of one length
        state = None if fresh else _stack_states([item.state for item in items if item.state is not None])
        logits, new_state = self.network(token_ids, state, last_only=True)  # (B, 1, V)
        last = F.log_softmax(logits.float(), dim=-1)[:, -1].cpu()  # (B, V)
        return [LMOutput(last[row], _select_state(new_state, row), None) for row in range(len(items))]

    def next_word_item(self, context: Context) -> LMItem:
        """Scoring starts from <eos>, as if a sentence had just ended."""
        return LMItem([self.eos_id, *context.token_ids])

    def perplexity_item(self, context: Context) -> LMItem:
        """Predict each word from <eos> and the words before it, then the closing <eos>."""
        return LMItem([self.eos_id, *context.token_ids], targets=[*context.token_ids, self.eos_id])

    def sample(self, log_probs: torch.Tensor, temperature: float, top_k: int, generator: torch.Generator) -> int:
        """Pick the next id: greedy at temperature 0, else sample (top-k cut first). <unk> is never produced."""
        logits = log_probs.double()  # a copy; float64 keeps any temperature in (0, 5] from overflowing
        logits[self.unk_id] = float("-inf")
        if temperature == 0:
            return int(logits.argmax())
        # Shifted so the likeliest word is 0 and the rest negative: dividing by a tiny temperature then gives
        # -inf for the rest (probability 0), never inf - inf = NaN.
        logits = (logits - logits.max()) / temperature
        if 0 < top_k < logits.numel():
            cutoff = torch.topk(logits, top_k).values[-1]
            logits[logits < cutoff] = float("-inf")
        return int(torch.multinomial(logits.softmax(dim=-1), 1, generator=generator))

    def cost(self, item: LMItem) -> tuple[str, float]:
        """Scoring projects every position through the vocabulary; next word and generation steps only the last."""
        kind = "perplexity" if item.targets is not None else "generation" if item.keep_state else "next-word"
        return (kind, float(max(1, len(item.token_ids))))

    def predictors(self) -> list[Predictor[Any, Any, LMOutput, Any]]:
        return [NextWordPredictor(self), PerplexityPredictor(self), GenerationPredictor(self), SessionStepPredictor(self)]

    def warmup(self) -> None:
        context = self.context("the company said", "text")
        generation_start = LMItem(self.next_word_item(context).token_ids, keep_state=True)
        next_word, perplexity, generation = self.forward(
            [self.next_word_item(context), self.perplexity_item(context), generation_start]
        )
        self.require_finite(torch.tensor([p for _, p in next_word.top or [(0, float("nan"))]]))
        self.require_finite(generation.log_probs if generation.log_probs is not None else torch.tensor(float("nan")))
        self.require_finite(torch.tensor(perplexity.nll if perplexity.nll is not None else float("nan")))

    def example_request(self) -> dict[str, Any]:
        return {"text": "the new york stock", "top_k": 5, "model": self.card.name}


@dataclass(frozen=True)
class PreparedContext(Prepared[LMItem]):
    context: Context  # the words fed, for the response


class LanguageModelOperation(Predictor[RequestT, PreparedT, LMOutput, ResponseT]):
    """An operation over the language model's runner: next word, perplexity or one generation step."""

    task = "language-model"

    def __init__(self, runner: LanguageModelRunner) -> None:
        super().__init__(runner)
        self.lm = runner


class NextWordPredictor(LanguageModelOperation[NextWordRequest, PreparedContext, NextWordResponse]):
    def preprocess(self, request: NextWordRequest) -> PreparedContext:
        context = self.lm.context(request.text, "text")
        sizes = {"chars": len(request.text), "tokens": len(context.token_ids)}
        return PreparedContext([self.lm.next_word_item(context)], sizes, context)

    def postprocess(self, request: NextWordRequest, prepared: PreparedContext, outputs: list[LMOutput]) -> NextWordResponse:
        """The top-k words by the model's probabilities; <unk> and <eos> are left out of the ranking, not renormalized."""
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


class PerplexityPredictor(LanguageModelOperation[PerplexityRequest, Prepared[LMItem], PerplexityResponse]):
    def preprocess(self, request: PerplexityRequest) -> Prepared[LMItem]:
        item = self.lm.perplexity_item(self.lm.context(request.text, "text"))
        return Prepared([item], {"chars": len(request.text), "tokens": len(item.token_ids)})

    def postprocess(self, request: PerplexityRequest, prepared: Prepared[LMItem], outputs: list[LMOutput]) -> PerplexityResponse:
        """exp of the mean NLL per token, the closing <eos> included."""
        [output], [item] = outputs, prepared.items
        if output.nll is None or item.targets is None:
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


class GenerationPredictor(LanguageModelOperation[GenerationStep, Prepared[LMItem], SampledToken]):
    """Generation runs this pipeline once per new token; each step is one batcher item."""

    def preprocess(self, request: GenerationStep) -> Prepared[LMItem]:
        """The first step feeds the prompt after an implicit <eos> (an empty prompt starts a new sentence)."""
        if request.previous is not None:
            return Prepared([LMItem([request.previous.token_id], state=request.previous.state, keep_state=True)], {})
        if request.start is not None:  # a session's first step: its state already predicts the next token
            return Prepared([LMItem([], state=request.start, targets=[], keep_state=True, session=True)], {})
        context = self.lm.context(request.prompt, "prompt", allow_empty=True)
        item = LMItem([self.lm.eos_id, *context.token_ids], keep_state=True)
        return Prepared([item], {"chars": len(request.prompt), "tokens": len(context.token_ids)})

    def postprocess(self, request: GenerationStep, prepared: Prepared[LMItem], outputs: list[LMOutput]) -> SampledToken:
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


class SessionStepPredictor(LanguageModelOperation[SessionStep, Prepared[LMItem], SessionStepResult]):
    """One session step (service/sessions.py) as one batcher item."""

    def preprocess(self, request: SessionStep) -> Prepared[LMItem]:
        if request.tokens is not None:
            words, unknown = [self.lm.vocabulary[word] for word in request.tokens], []
        else:
            context = self.lm.context(request.text, "text", allow_empty=True)
            words, unknown = context.token_ids, context.unknown_words
            if not words and request.state is not None:
                raise InvalidInput("the text has no words once normalized", [ErrorDetail(loc=["body", "text"], msg="no words")])
        fed = words if request.state is not None else [self.lm.eos_id, *words]
        item = LMItem(fed, state=request.state, targets=words, keep_state=True, session=True)
        return PreparedSession([item], {"chars": len(request.text), "tokens": len(words)}, unknown)

    def postprocess(self, request: SessionStep, prepared: Prepared[LMItem], outputs: list[LMOutput]) -> SessionStepResult:
        [output], [item] = outputs, prepared.items
        if output.nll is None or output.top is None or output.state is None or item.targets is None:
            raise RuntimeError("a session item came back without its score, ranking or state")
        unknown = prepared.unknown_words if isinstance(prepared, PreparedSession) else []
        top = [(self.lm.words[index], probability) for index, probability in output.top]
        return SessionStepResult(output.nll, len(item.targets), top, output.state, unknown)


@dataclass(frozen=True)
class PreparedSession(Prepared[LMItem]):
    unknown_words: list[str]


def _within_budget(group: list[int], lengths: list[int], budget: int | None) -> list[list[int]]:
    """Split a group (sorted by length) so that rows x longest row stays within `budget`; a lone row always runs."""
    if budget is None:
        return [group]
    chunks: list[list[int]] = []
    for index in group:
        if chunks and (len(chunks[-1]) + 1) * lengths[index] <= budget:
            chunks[-1].append(index)
        else:
            chunks.append([index])
    return chunks


def _stack_states(states: list[State]) -> State:
    """Per-item states (layers, 1, H), all of one cell type -> one batch state (layers, B, H)."""
    pairs = [state for state in states if isinstance(state, tuple)]
    if pairs:  # an LSTM's (h, c)
        return (torch.cat([h for h, _ in pairs], dim=1), torch.cat([c for _, c in pairs], dim=1))
    return torch.cat([state for state in states if isinstance(state, torch.Tensor)], dim=1)


def _select_state(state: State, row: int) -> State:
    """One item's state, kept (layers, 1, H) so it can be stacked again next step."""
    if isinstance(state, tuple):
        return (state[0][:, row : row + 1].clone(), state[1][:, row : row + 1].clone())
    return state[:, row : row + 1].clone()
