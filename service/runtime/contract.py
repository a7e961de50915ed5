"""The contract every model fulfils for the registry, the batcher and the ready model's run.

A `ModelRunner` is one artifact's network on one device: it runs batches of items gathered
from many requests (`forward`, which the model's batcher calls on the inference thread). A
`Predictor` is one operation on a runner: `preprocess` turns a request into items (cheap; raises
InvalidInput), the runner's batched `forward` answers them, and `postprocess` shapes the response.
A `ServedTask` names a task's runner and its operations: sentiment and forecast offer one each;
the language model offers next word, perplexity, generation steps and session steps over one
network and one batcher. The task classes live in service/tasks; this layer only drives them.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import torch
from pydantic import BaseModel
from torch import nn

from models.artifact import Artifact, ArtifactError, ModelCard, Task
from models.card_io import CardIO

# A padded group's longest input is at most this many times its shortest: at most half its positions are
# padding.
GROUP_LENGTH_RATIO = 2.0

RequestT = TypeVar("RequestT")
ItemT = TypeVar("ItemT")
PreparedT = TypeVar("PreparedT", bound="Prepared[Any]")
OutputT = TypeVar("OutputT")
ResponseT = TypeVar("ResponseT")
IOT = TypeVar("IOT", bound=CardIO)
NetworkT = TypeVar("NetworkT", bound=nn.Module)


def group_by_length(lengths: list[int], ratio: float) -> list[list[int]]:
    """Indices sorted by length, cut into runs whose longest is at most `ratio` x their shortest."""
    groups: list[list[int]] = []
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        if groups and lengths[index] <= ratio * lengths[groups[-1][0]]:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


def typed_io(card: ModelCard, kind: type[IOT]) -> IOT:
    """The card's `io` as the class its runner reads (the card validated it against its task at load)."""
    if not isinstance(card.io, kind):
        raise ArtifactError(card.name, f"io is {type(card.io).__name__}, this runner reads {kind.__name__}")
    return card.io


def typed_network(artifact: Artifact, kind: type[NetworkT]) -> NetworkT:
    """The artifact's network as the class its runner drives."""
    if not isinstance(artifact.model, kind):
        raise ArtifactError(
            artifact.card.name,
            f"arch.type {type(artifact.model).__name__} cannot serve a {kind.__name__} task",
        )
    return artifact.model


@dataclass(frozen=True)
class CheckedOperation:
    """An operation a version is checked through before it serves: the request body it reads."""

    operation: type["Predictor[Any, Any, Any, Any]"]
    request: type[BaseModel]


@dataclass(frozen=True)
class ServedTask:
    """A task the registry can serve: the runner built from its artifacts, and the operations over it.
    `checks` names, by endpoint (`sentiment`, `next-word`, ...), the operations that golden.json's cases and
    the runner's example request (the first's) run through before a version takes traffic."""

    runner: type["ModelRunner[Any, Any]"]
    operations: tuple[type["Predictor[Any, Any, Any, Any]"], ...]
    checks: dict[str, CheckedOperation]


@dataclass(frozen=True)
class Prepared(Generic[ItemT]):
    """A request turned into batcher items, with the sizes logged for it (never the inputs themselves).

    A predictor whose postprocess needs more of what preprocess learned subclasses it.
    """

    items: list[ItemT]
    sizes: dict[str, int]


class ModelRunner(ABC, Generic[ItemT, OutputT]):
    """One loaded artifact on one device; `forward` runs on the inference thread, one batch at a time."""

    task: ClassVar[Task]

    def __init__(self, artifact: Artifact, device: torch.device) -> None:
        self.card = artifact.card
        self.device = device
        # Called with (real positions, padded positions) for each padded forward; the registry wires it to
        # metrics.
        self.padding_observer: Callable[[int, int], None] | None = None

    def observe_padding(self, real: int, total: int) -> None:
        if self.padding_observer is not None:
            self.padding_observer(real, total)

    @abstractmethod
    def forward(self, items: list[ItemT]) -> list[OutputT]:
        """Run one batch of preprocessed items; returns one result per item, on the CPU."""

    def cost(self, item: ItemT) -> tuple[str, float]:
        """The kind of work an item is and its size in that kind's units, for the batcher's wait estimate."""
        return ("item", 1.0)

    def calibration(self) -> list[list[ItemT]]:
        """Batches of representative items of different sizes, each kind at two sizes at least. The registry
        times them at load, so that the batcher's cost estimate holds across batch sizes from the first
        request (service/runtime/cost.py)."""
        return []

    @abstractmethod
    def warmup(self) -> None:
        """Run representative inputs once, so the first real request does not pay for lazy setup, and check
        that they give finite outputs (`require_finite`): weights with NaN in them fail the load."""

    def require_finite(self, values: torch.Tensor) -> None:
        if not bool(torch.isfinite(values).all()):
            raise ArtifactError(
                self.card.name, "the warm-up forward gave non-finite outputs (NaN or infinite weights?)"
            )

    @abstractmethod
    def example_request(self) -> dict[str, Any]:
        """A request body that this model answers, shown by GET /v1/models/{name}."""


class Predictor(ABC, Generic[RequestT, PreparedT, OutputT, ResponseT]):
    """One operation: request -> preprocess -> batched forward -> postprocess -> response.

    `PreparedT` is the request's items plus whatever postprocess needs; the items go to the runner.
    """

    task: ClassVar[Task]  # the registry resolves a request's model among this task's models
    # True where postprocess does heavy CPU work (fitting models): ReadyModel.run then runs it in a worker
    # thread.
    postprocess_blocks: ClassVar[bool] = False

    def __init__(self, runner: ModelRunner[Any, OutputT]) -> None:
        self.runner = runner
        self.card = runner.card

    @abstractmethod
    def preprocess(self, request: RequestT) -> PreparedT:
        """Check the request against the card and turn it into items; raises InvalidInput."""

    def measured(self, outputs: list[OutputT]) -> dict[str, int]:
        """Sizes only the forward learnt (tokens counted on the model's thread), for the request's log
        line."""
        return {}

    @abstractmethod
    def postprocess(self, request: RequestT, prepared: PreparedT, outputs: list[OutputT]) -> ResponseT:
        """Shape the outputs of this request's items into its response."""
