"""The contract every task's predictor fulfils for the registry and the batcher."""

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import torch

from models.artifact import Artifact

# A padded group's longest input is at most this many times its shortest: at most half its positions are padding.
GROUP_LENGTH_RATIO = 2.0


def group_by_length(lengths: list[int], ratio: float) -> list[list[int]]:
    """Indices sorted by length, cut into runs whose longest is at most `ratio` x their shortest."""
    groups: list[list[int]] = []
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        if groups and lengths[index] <= ratio * lengths[groups[-1][0]]:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


class Predictor(ABC):
    """Wraps one loaded artifact on one device.

    The route calls `preprocess` (cheap, raises InvalidInput), the batcher calls `forward`
    on its inference thread with items from many requests, and the route shapes each
    result with `postprocess`.
    """

    def __init__(self, artifact: Artifact, device: torch.device) -> None:
        self.card = artifact.card
        self.device = device
        self.model = artifact.model.to(device)
        # Called with (real positions, padded positions) for each padded forward; the registry wires it to metrics.
        self.padding_observer: Callable[[int, int], None] | None = None

    def observe_padding(self, real: int, total: int) -> None:
        if self.padding_observer is not None:
            self.padding_observer(real, total)

    @abstractmethod
    def forward(self, items: list[Any]) -> Sequence[Any]:
        """Run one batch of preprocessed items; returns one result per item, on the CPU."""

    @abstractmethod
    def warmup(self) -> None:
        """Run representative inputs once so the first real request does not pay for lazy setup."""

    @abstractmethod
    def example_request(self) -> dict[str, Any]:
        """A request body that this model answers, shown by GET /v1/models/{name}."""
