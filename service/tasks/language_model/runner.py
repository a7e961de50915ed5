"""The language model's runner: the network, the vocabulary, and the batched forward over every item kind.

Next-word and perplexity items are right-padded into groups of similar length; generation items batch
with items of equal length only; session items likewise, from their states (items.py says why).
The operations that make these items from requests are in operations.py.
"""

import torch
import torch.nn.functional as F

from models.artifact import Artifact, ArtifactError
from models.card_io import LanguageModelIO
from models.language_model import LanguageModel, State
from models.text import pad_batch, words_of
from service.runtime.contract import GROUP_LENGTH_RATIO, ModelRunner, group_by_length, typed_io, typed_network
from service.schemas.language_model import MAX_TOP_K
from service.tasks.language_model.items import (
    Context,
    GenerationItem,
    LMItem,
    LMOutput,
    NextWordItem,
    PerplexityItem,
    SessionItem,
)
from service.tasks.text_rules import is_word, no_known_words, no_words

# Most token positions scored in one forward: their logits take positions x vocabulary x 4 bytes (160 MB
# here).
SCORING_POSITIONS = 4096


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
                raise ArtifactError(
                    self.card.name, f"special token {special!r} of io is not in tokenizer.json"
                )
        self.eos_token, self.unk_token = self.io.eos_token, self.io.unk_token
        self.eos_id, self.unk_id = self.vocabulary[self.eos_token], self.vocabulary[self.unk_token]
        self.keeps_unk = self._words(self.unk_token) == [self.unk_token]  # PTB's normalizer does

    def context(self, text: str, field: str, allow_empty: bool = False, checked: bool = True) -> Context:
        """Normalize as the corpus was prepared. Unless `checked` is off (a session feeds what it is given),
        a text with no word, or none the model knows, is a 422; with `allow_empty`, an empty text is not
        (an empty prompt starts a new sentence). A word that normalization would erase entirely (a script
        the corpus never had) is fed as <unk> and reported, like any unknown word."""
        erased = self._erased(text)
        words = self._words(self._marked(text, erased))
        token_ids = [self.vocabulary.get(word, self.unk_id) for word in words]
        unknown = self._unknown(words, token_ids, erased)
        if checked and not (allow_empty and not text.strip()):
            if not words:
                raise no_words([["body", field]])
            if all(index == self.unk_id for index in token_ids):
                raise no_known_words([["body", field]])
        return Context(token_ids, [self.words[index] for index in token_ids], unknown)

    def _unknown(self, words: list[str], token_ids: list[int], erased: list[str]) -> list[str]:
        """The words fed as <unk>, in order: unknown ones as normalized, erased ones as sent. A literal <unk>
        in the text (PTB's own form) is not reported."""
        pending, unknown = list(erased), []
        for word, index in zip(words, token_ids, strict=True):
            if index == self.unk_id and word != self.unk_token:
                unknown.append(word)
            elif index == self.unk_id and pending and self.keeps_unk:
                unknown.append(pending.pop(0))
        return unknown + (pending if not self.keeps_unk else [])

    def _words(self, text: str) -> list[str]:
        return words_of(self.tokenizer, text)

    def _erased(self, text: str) -> list[str]:
        """The text's words (split on spaces) that hold letters or digits yet normalize to nothing. ASCII
        letters and digits survive normalization, so an ASCII text has none (the fast path)."""
        if text.isascii():
            return []
        return [word for word in text.split() if is_word(word) and not self._words(word)]

    def _marked(self, text: str, erased: list[str]) -> str:
        """The text with each erased word replaced by <unk>, where the normalizer keeps <unk> as it is."""
        if not erased or not self.keeps_unk:
            return text
        gone = set(erased)
        return " ".join(self.unk_token if word in gone else word for word in text.split())

    def forward(self, items: list[LMItem]) -> list[LMOutput]:
        outputs: list[LMOutput | None] = [None] * len(items)
        padded: dict[bool, list[tuple[int, NextWordItem | PerplexityItem]]] = {}  # scoring? -> (index, item)
        # (length, fresh) -> (index, item), for generation and session items
        exact: dict[tuple[int, bool], list[tuple[int, GenerationItem]]] = {}
        sessions: dict[tuple[int, bool], list[tuple[int, SessionItem]]] = {}
        for index, item in enumerate(items):
            match item:
                case NextWordItem() | PerplexityItem():
                    padded.setdefault(isinstance(item, PerplexityItem), []).append((index, item))
                case GenerationItem():
                    exact.setdefault((len(item.token_ids), item.state is None), []).append((index, item))
                case SessionItem():
                    sessions.setdefault((len(item.token_ids), item.state is None), []).append((index, item))
        with torch.inference_mode():
            for scoring, members in padded.items():
                lengths = [len(item.token_ids) for _, item in members]
                for group in group_by_length(lengths, GROUP_LENGTH_RATIO):
                    # Scoring keeps logits for every position (B x T x vocabulary): bound B x T per forward.
                    budget = SCORING_POSITIONS if scoring else None
                    for chunk in _within_budget(group, lengths, budget):
                        chosen = [members[i] for i in chunk]
                        results = self._forward_padded([item for _, item in chosen], scoring)
                        for (index, _), output in zip(chosen, results, strict=True):
                            outputs[index] = output
            for (_, fresh), generations in exact.items():
                results = self._forward_exact([item for _, item in generations], fresh)
                for (index, _), output in zip(generations, results, strict=True):
                    outputs[index] = output
            for (_, fresh), steps in sessions.items():
                results = self._forward_session([item for _, item in steps], fresh)
                for (index, _), output in zip(steps, results, strict=True):
                    outputs[index] = output
        return [output for output in outputs if output is not None]

    def _forward_padded(self, items: list[NextWordItem | PerplexityItem], scoring: bool) -> list[LMOutput]:
        # Next-word contexts are padded to a multiple of 4 positions: fewer shapes for oneDNN's primitive
        # cache.
        multiple = 1 if scoring else 4
        token_ids, lengths = pad_batch(
            [item.token_ids for item in items], self.eos_id, multiple
        )  # (B, T), (B,)
        self.observe_padding(int(lengths.sum()), token_ids.numel())
        token_ids, lengths = token_ids.to(self.device), lengths.to(self.device)
        if scoring:
            logits, _ = self.network(token_ids)  # (B, T, V)
            log_probs = F.log_softmax(logits.float(), dim=-1)
            targets, _ = pad_batch([_scored(item) for item in items], self.eos_id)  # (B, T)
            picked = log_probs.gather(-1, targets.to(self.device).unsqueeze(-1)).squeeze(-1)  # (B, T)
            real = torch.arange(picked.shape[1], device=self.device)[None, :] < lengths[:, None]  # (B, T)
            nll = -(picked * real).sum(dim=1)  # (B,)
            return [LMOutput(None, None, value) for value in nll.tolist()]
        logits, _ = self.network(token_ids, last_positions=lengths - 1)  # (B, 1, V)
        return [
            LMOutput(None, None, None, top) for top in self._rank(F.log_softmax(logits.float(), dim=-1)[:, 0])
        ]

    def _rank(self, log_probs: torch.Tensor) -> list[list[tuple[int, float]]]:
        """Each row's MAX_TOP_K likeliest ids with their probabilities, <unk> and <eos> left out (the rest not
        renormalized). Done once for the whole batch: each request then takes its first top_k."""
        probabilities = log_probs.exp()  # (B, V), a copy
        probabilities[:, [self.unk_id, self.eos_id]] = -1.0
        top = probabilities.topk(min(MAX_TOP_K, probabilities.shape[-1]), dim=-1)  # (B, K), sorted
        ranked = zip(top.indices.tolist(), top.values.tolist(), strict=True)
        return [list(zip(ids, values, strict=True)) for ids, values in ranked]

    def _forward_session(self, items: list[SessionItem], fresh: bool) -> list[LMOutput]:
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
            targets = torch.tensor(item.targets, dtype=torch.long, device=self.device)  # (N,)
            nll = -float(log_probs[row, : len(targets)].gather(-1, targets[:, None]).sum())
            outputs.append(LMOutput(log_probs[row, -1].cpu(), _select_state(state, row), nll, ranked[row]))
        return outputs

    def _forward_exact(self, items: list[GenerationItem], fresh: bool) -> list[LMOutput]:
        token_ids = torch.tensor(
            [item.token_ids for item in items], device=self.device
        )  # (B, T), all of one length
        state = None if fresh else _stack_states([item.state for item in items if item.state is not None])
        logits, new_state = self.network(token_ids, state, last_only=True)  # (B, 1, V)
        last = F.log_softmax(logits.float(), dim=-1)[:, -1].cpu()  # (B, V)
        return [LMOutput(last[row], _select_state(new_state, row), None) for row in range(len(items))]

    def next_word_item(self, context: Context) -> NextWordItem:
        """Scoring starts from <eos>, as if a sentence had just ended."""
        return NextWordItem([self.eos_id, *context.token_ids])

    def perplexity_item(self, context: Context) -> PerplexityItem:
        """Predict each word from <eos> and the words before it, then the closing <eos>."""
        return PerplexityItem([self.eos_id, *context.token_ids], targets=[*context.token_ids, self.eos_id])

    def sample(
        self, log_probs: torch.Tensor, temperature: float, top_k: int, generator: torch.Generator
    ) -> int:
        """Pick the next id: greedy at temperature 0, else sample (top-k cut first). <unk> is never
        produced."""
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
        """Scoring projects every position through the vocabulary; next word and generation steps only the
        last."""
        return (item.cost_kind, float(max(1, len(item.token_ids))))

    def calibration(self) -> list[list[LMItem]]:
        """Each kind of item at two sizes: one short item, and eight eight times as long."""
        context = self.context("the company said", "text")
        short, long = context.token_ids, context.token_ids * 8
        return [
            [NextWordItem([self.eos_id, *short])],
            [NextWordItem([self.eos_id, *long])] * 8,
            [PerplexityItem([self.eos_id, *short], [*short, self.eos_id])],
            [PerplexityItem([self.eos_id, *long], [*long, self.eos_id])] * 8,
            [GenerationItem([self.eos_id, *short], None)],
            [GenerationItem([self.eos_id, *long], None)] * 8,
        ]

    def warmup(self) -> None:
        context = self.context("the company said", "text")
        generation_start = GenerationItem(self.next_word_item(context).token_ids, state=None)
        next_word, perplexity, generation = self.forward(
            [self.next_word_item(context), self.perplexity_item(context), generation_start]
        )
        self.require_finite(torch.tensor([p for _, p in next_word.top or [(0, float("nan"))]]))
        self.require_finite(
            generation.log_probs if generation.log_probs is not None else torch.tensor(float("nan"))
        )
        self.require_finite(torch.tensor(perplexity.nll if perplexity.nll is not None else float("nan")))

    def example_request(self) -> dict[str, object]:
        return {"text": "the new york stock", "top_k": 5, "model": self.card.name}


def _within_budget(group: list[int], lengths: list[int], budget: int | None) -> list[list[int]]:
    """Split a group (sorted by length) so that rows x longest row stays within `budget`; a lone row always
    runs."""
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


def _scored(item: NextWordItem | PerplexityItem) -> list[int]:
    return item.targets if isinstance(item, PerplexityItem) else []
