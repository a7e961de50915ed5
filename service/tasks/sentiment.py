"""Sentiment: texts -> label, score and class probabilities."""

import bisect
import re
from dataclasses import dataclass
from typing import Any

import torch

from models.artifact import Artifact, ArtifactError
from models.card_io import SentimentIO
from models.sentiment import SentimentClassifier
from models.text import pad_batch, truncate
from service.runtime.contract import (
    GROUP_LENGTH_RATIO,
    ModelRunner,
    Predictor,
    Prepared,
    group_by_length,
    typed_io,
    typed_network,
)
from service.schemas.sentiment import SentimentRequest, SentimentResponse, SentimentResult
from service.tasks.text_rules import is_word, no_known_words, no_words

Probabilities = list[float]  # one per class, in the card's label order
MARKUP = re.compile(r"<[^<>]{1,200}>")  # an HTML tag: its tokens are read, but are not words of the text


def outside_tags(text: str, spans: list[tuple[int, int]]) -> list[bool]:
    """For each token's (start, end) in `text`, whether it lies outside every HTML tag. Tags do not overlap
    and come in order, so each token looks up the last tag starting at or before it."""
    tags = [match.span() for match in MARKUP.finditer(text)]
    starts = [start for start, _ in tags]
    outside = []
    for start, end in spans:
        index = bisect.bisect_right(starts, start) - 1
        outside.append(index < 0 or end > tags[index][1])
    return outside


# Padded lengths are rounded up to this: 64 lengths up to 512 tokens instead of 512, so oneDNN's primitive
# cache keeps its LSTM kernels (measured at c=1: a miss per new length cost about 0.5 ms of CPU a review).
SHAPE_MULTIPLE = 8


@dataclass(frozen=True)
class ReviewText:
    """One text as the batcher carries it: tokenized with its batch, on the model's thread."""

    text: str


@dataclass(frozen=True)
class PreparedText:
    token_ids: list[int]
    truncated: bool
    known_words: int  # words fed that the vocabulary has (punctuation marks are not words)
    has_words: bool  # any token with a letter or digit


@dataclass(frozen=True)
class SentimentOutput:
    encoded: PreparedText
    probabilities: Probabilities | None  # None: the text had no token, or none the vocabulary knows


class SentimentRunner(ModelRunner[ReviewText, SentimentOutput]):
    """Tokenizes and classifies whole batches on the model's thread. The tokenizer's encode_batch releases
    the GIL, so the event loop keeps answering while reviews (hundreds of words each) are tokenized; a text
    that turns out empty or unknown is left out of the forward and comes back marked for a 422."""

    task = "sentiment"

    def __init__(self, artifact: Artifact, device: torch.device) -> None:
        super().__init__(artifact, device)
        if artifact.tokenizer is None:
            raise ArtifactError(artifact.card.name, "a sentiment model needs its tokenizer.json")
        self.tokenizer = artifact.tokenizer
        self.io = typed_io(self.card, SentimentIO)
        self.network = typed_network(artifact, SentimentClassifier).to(device)
        pad_id = self.tokenizer.token_to_id(self.io.pad_token)
        if pad_id is None:
            raise ArtifactError(
                self.card.name, f"io.pad_token {self.io.pad_token!r} is not in tokenizer.json"
            )
        self.pad_id: int = pad_id
        # None: the vocabulary has no unknown-word token
        self.unk_id = self.tokenizer.token_to_id(self.io.unk_token)
        vocabulary = self.tokenizer.get_vocab()
        # Per token id: whether the token is a word (it has a letter or digit), not punctuation.
        self.word_ids = [False] * (max(vocabulary.values()) + 1)
        for token, token_id in vocabulary.items():
            self.word_ids[token_id] = is_word(token)

    def forward(self, items: list[ReviewText]) -> list[SentimentOutput]:
        encoded = self.encode([item.text for item in items])
        judged = [index for index, text in enumerate(encoded) if text.known_words > 0]
        probabilities = self.classify([encoded[index] for index in judged])
        rows: list[Probabilities | None] = [None] * len(items)
        for index, row in zip(judged, probabilities, strict=True):
            rows[index] = row
        return [SentimentOutput(text, row) for text, row in zip(encoded, rows, strict=True)]

    def classify(self, items: list[PreparedText]) -> list[Probabilities]:
        """Class probabilities per item. Items are grouped by length first, so a short review never
        pays for a long one's padding (padded batches stay on the fast kernels; packing does not)."""
        results: list[Probabilities] = [[] for _ in items]
        for group in group_by_length([len(item.token_ids) for item in items], GROUP_LENGTH_RATIO):
            sequences = [items[i].token_ids for i in group]
            token_ids, lengths = pad_batch(sequences, self.pad_id, SHAPE_MULTIPLE)  # (b, T), (b,)
            self.observe_padding(int(lengths.sum()), token_ids.numel())
            with torch.inference_mode():
                logits = self.network(token_ids.to(self.device), lengths.to(self.device))  # (b, classes)
                probabilities: list[Probabilities] = logits.float().softmax(dim=-1).cpu().tolist()
            for index, row in zip(group, probabilities, strict=True):
                results[index] = row
        return results

    def encode(self, texts: list[str]) -> list[PreparedText]:
        """Tokenize as in training and cut to max_length; count the words the vocabulary knows (punctuation
        and markup are tokens the model reads, but not words)."""
        items = []
        # encode_batch releases the GIL but hands the texts to a thread pool: for a lone text, encode is
        # quicker.
        encodings = (
            self.tokenizer.encode_batch(texts) if len(texts) > 1 else [self.tokenizer.encode(texts[0])]
        )
        for text, encoding in zip(texts, encodings, strict=True):
            ids, truncated = truncate(encoding.ids, self.io.max_length, self.io.truncation)
            if "<" in text:  # markup: tokens inside a tag are read, but are not words
                spans, _ = truncate(encoding.offsets, self.io.max_length, self.io.truncation)
                kept = outside_tags(text, spans)
                words = [
                    token
                    for token, outside in zip(ids, kept, strict=True)
                    if outside and self.word_ids[token]
                ]
            else:
                words = [token_id for token_id in ids if self.word_ids[token_id]]
            known = sum(1 for token_id in words if token_id != self.unk_id)
            items.append(PreparedText(ids, truncated, known, has_words=bool(words)))
        return items

    def cost(self, item: ReviewText) -> tuple[str, float]:
        return ("review", float(len(item.text)))  # characters: the tokens are counted on the model's thread

    def _known_text(self) -> str:
        """Words the model knows (past the specials), for warm-up and calibration."""
        vocabulary = self.tokenizer.get_vocab()
        return " ".join(sorted(vocabulary, key=vocabulary.__getitem__)[2:40])

    def calibration(self) -> list[list[ReviewText]]:
        known = self._known_text()
        return [[ReviewText(known)], [ReviewText(f"{known} " * 12)] * 8]

    def warmup(self) -> None:
        known = self._known_text()
        outputs = self.forward([ReviewText(known), ReviewText(f"{known} " * 12)])
        classes = len(self.io.labels)
        self.require_finite(
            torch.tensor([output.probabilities or [float("nan")] * classes for output in outputs])
        )

    def example_request(self) -> dict[str, Any]:
        return {
            "texts": ["an absolute masterpiece, wonderful acting", "boring, awful, a waste of two hours"],
            "model": self.card.name,
        }


class SentimentPredictor(
    Predictor[SentimentRequest, Prepared[ReviewText], SentimentOutput, SentimentResponse]
):
    task = "sentiment"

    def __init__(self, runner: SentimentRunner) -> None:
        super().__init__(runner)
        self.io = runner.io

    def preprocess(self, request: SentimentRequest) -> Prepared[ReviewText]:
        """The texts go to the batch as they are; tokenizing them is the model thread's work."""
        sizes = {"texts": len(request.texts), "chars": sum(len(text) for text in request.texts)}
        return Prepared([ReviewText(text) for text in request.texts], sizes)

    def measured(self, outputs: list[SentimentOutput]) -> dict[str, int]:
        return {"tokens": sum(len(output.encoded.token_ids) for output in outputs)}

    def postprocess(
        self, request: SentimentRequest, prepared: Prepared[ReviewText], outputs: list[SentimentOutput]
    ) -> SentimentResponse:
        """A text with no word, or none the vocabulary knows, makes the request a 422 naming it."""
        empty = [index for index, output in enumerate(outputs) if not output.encoded.has_words]
        if empty:
            raise no_words([["body", "texts", index] for index in empty])
        unknown = [index for index, output in enumerate(outputs) if output.probabilities is None]
        if unknown:
            raise no_known_words([["body", "texts", index] for index in unknown])
        results = [self.result(output.encoded, output.probabilities or []) for output in outputs]
        return SentimentResponse(model=self.card.name, version=self.card.version, results=results)

    def result(self, item: PreparedText, probabilities: Probabilities) -> SentimentResult:
        """One text's answer: the likelier label, its probability, every class's, and whether it was cut."""
        best = max(range(len(probabilities)), key=probabilities.__getitem__)
        return SentimentResult(
            label=self.io.labels[best],
            score=probabilities[best],
            probabilities=dict(zip(self.io.labels, probabilities, strict=True)),
            truncated=item.truncated,
            known_words=item.known_words,
        )
