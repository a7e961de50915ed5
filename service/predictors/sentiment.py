"""Sentiment: texts -> label, score and class probabilities."""

from dataclasses import dataclass
from typing import Any

import torch

from models.artifact import Artifact, ArtifactError
from models.card_io import SentimentIO
from models.sentiment import SentimentClassifier
from models.text import pad_batch, truncate
from service.errors import ErrorDetail, InvalidInput
from service.predictors.base import (
    GROUP_LENGTH_RATIO,
    ModelRunner,
    Predictor,
    Prepared,
    group_by_length,
    typed_io,
    typed_network,
)
from service.schemas.sentiment import SentimentRequest, SentimentResponse, SentimentResult

Probabilities = list[float]  # one per class, in the card's label order


@dataclass(frozen=True)
class PreparedText:
    token_ids: list[int]
    truncated: bool
    known_words: int  # tokens fed that the vocabulary has (words and punctuation marks)


class SentimentRunner(ModelRunner[PreparedText, Probabilities]):
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
            raise ArtifactError(self.card.name, f"io.pad_token {self.io.pad_token!r} is not in tokenizer.json")
        self.pad_id: int = pad_id
        self.unk_id = self.tokenizer.token_to_id(self.io.unk_token)  # None: the vocabulary has no unknown-word token

    def forward(self, items: list[PreparedText]) -> list[Probabilities]:
        """Class probabilities per item. Items are grouped by length first, so a short review never
        pays for a long one's padding (padded batches stay on the fast kernels; packing does not)."""
        results: list[Probabilities] = [[] for _ in items]
        for group in group_by_length([len(item.token_ids) for item in items], GROUP_LENGTH_RATIO):
            token_ids, lengths = pad_batch([items[i].token_ids for i in group], self.pad_id)  # (b, T), (b,)
            self.observe_padding(int(lengths.sum()), token_ids.numel())
            with torch.inference_mode():
                logits = self.network(token_ids.to(self.device), lengths.to(self.device))  # (b, classes)
                probabilities: list[Probabilities] = logits.float().softmax(dim=-1).cpu().tolist()
            for index, row in zip(group, probabilities, strict=True):
                results[index] = row
        return results

    def encode(self, texts: list[str]) -> list[PreparedText]:
        """Tokenize as in training and cut to max_length; count the tokens the vocabulary knows."""
        items = []
        for encoding in self.tokenizer.encode_batch(texts):
            ids, truncated = truncate(encoding.ids, self.io.max_length, self.io.truncation)
            items.append(PreparedText(ids, truncated, sum(1 for token_id in ids if token_id != self.unk_id)))
        return items

    def cost(self, item: PreparedText) -> tuple[str, float]:
        return ("review", float(len(item.token_ids)))

    def predictors(self) -> list[Predictor[Any, Any, Probabilities, Any]]:
        return [SentimentPredictor(self)]

    def warmup(self) -> None:
        texts = ["a short warm-up review", "another, somewhat longer, warm-up review " * 20]
        self.require_finite(torch.tensor(self.forward(self.encode(texts))))

    def example_request(self) -> dict[str, Any]:
        return {
            "texts": ["an absolute masterpiece, wonderful acting", "boring, awful, a waste of two hours"],
            "model": self.card.name,
        }


class SentimentPredictor(Predictor[SentimentRequest, Prepared[PreparedText], Probabilities, SentimentResponse]):
    task = "sentiment"

    def __init__(self, runner: SentimentRunner) -> None:
        super().__init__(runner)
        self.runner: SentimentRunner = runner
        self.io = runner.io

    def preprocess(self, request: SentimentRequest) -> Prepared[PreparedText]:
        """Tokenize as in training; a text with no tokens after normalization is invalid input."""
        items = self.runner.encode(request.texts)
        empty, unknown = [], []
        for index, item in enumerate(items):
            if not item.token_ids:
                empty.append(ErrorDetail(loc=["body", "texts", index], msg="text is empty after normalization"))
            elif item.known_words == 0:
                unknown.append(ErrorDetail(loc=["body", "texts", index], msg="no word of the text is in the vocabulary"))
        if empty:
            raise InvalidInput("some texts have no words once markup and spaces are removed", empty)
        if unknown:
            raise InvalidInput("some texts have no word the model knows, so it cannot judge them", unknown)
        sizes = {
            "texts": len(request.texts),
            "chars": sum(len(text) for text in request.texts),
            "tokens": sum(len(item.token_ids) for item in items),
        }
        return Prepared(items, sizes)

    def postprocess(
        self, request: SentimentRequest, prepared: Prepared[PreparedText], outputs: list[Probabilities]
    ) -> SentimentResponse:
        results = [self.result(item, row) for item, row in zip(prepared.items, outputs, strict=True)]
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
