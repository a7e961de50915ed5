"""Sentiment: texts -> label, score and class probabilities."""

from dataclasses import dataclass
from typing import Any

import torch
from tokenizers import Tokenizer

from models.artifact import Artifact
from models.text import pad_batch, truncate
from service.errors import ErrorDetail, InvalidInput
from service.predictors.base import GROUP_LENGTH_RATIO, Predictor, group_by_length


@dataclass(frozen=True)
class PreparedText:
    token_ids: list[int]
    truncated: bool


class SentimentPredictor(Predictor):
    def __init__(self, artifact: Artifact, device: torch.device) -> None:
        super().__init__(artifact, device)
        assert artifact.tokenizer is not None
        self.tokenizer: Tokenizer = artifact.tokenizer
        io = self.card.io
        self.labels: list[str] = list(io["labels"])
        self.max_length: int = int(io["max_length"])
        self.truncation = io["truncation"]
        self.pad_id = self.tokenizer.token_to_id(io.get("pad_token", "<pad>"))

    def preprocess(self, texts: list[str]) -> list[PreparedText]:
        """Tokenize as in training; a text with no tokens after normalization is invalid input."""
        prepared, empty = [], []
        for index, encoding in enumerate(self.tokenizer.encode_batch(texts)):
            if not encoding.ids:
                empty.append(ErrorDetail(loc=["body", "texts", index], msg="text is empty after normalization"))
            ids, truncated = truncate(encoding.ids, self.max_length, self.truncation)
            prepared.append(PreparedText(ids, truncated))
        if empty:
            raise InvalidInput("some texts have no words once markup and spaces are removed", empty)
        return prepared

    def forward(self, items: list[PreparedText]) -> list[list[float]]:
        """Class probabilities per item. Items are grouped by length first, so a short review never
        pays for a long one's padding (padded batches stay on the fast kernels; packing does not)."""
        results: list[list[float]] = [[] for _ in items]
        for group in group_by_length([len(item.token_ids) for item in items], GROUP_LENGTH_RATIO):
            token_ids, lengths = pad_batch([items[i].token_ids for i in group], self.pad_id)  # (b, T), (b,)
            self.observe_padding(int(lengths.sum()), token_ids.numel())
            with torch.inference_mode():
                logits = self.model(token_ids.to(self.device), lengths.to(self.device))  # (b, classes)
                probabilities = logits.float().softmax(dim=-1).cpu().tolist()
            for index, row in zip(group, probabilities, strict=True):
                results[index] = row
        return results

    def postprocess(self, item: PreparedText, probabilities: list[float]) -> dict[str, Any]:
        best = max(range(len(probabilities)), key=probabilities.__getitem__)
        return {
            "label": self.labels[best],
            "score": probabilities[best],
            "probabilities": dict(zip(self.labels, probabilities, strict=True)),
            "truncated": item.truncated,
        }

    def warmup(self) -> None:
        self.forward(self.preprocess(["a short warm-up review", "another, somewhat longer, warm-up review " * 20]))

    def example_request(self) -> dict[str, Any]:
        return {
            "texts": ["an absolute masterpiece, wonderful acting", "boring, awful, a waste of two hours"],
            "model": self.card.name,
        }
