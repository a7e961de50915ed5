"""The one driver of every inference: resolve -> preprocess -> batcher (queue, forward) -> postprocess.

Routes only turn their schema into a call here and return what comes back. Each stage is
timed into a per-model Prometheus histogram (the batcher times the queue wait and the forward).
"""

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic

from prometheus_client import Histogram
from starlette.concurrency import run_in_threadpool

from models.artifact import ModelCard
from service.batching import MicroBatcher
from service.metrics import Metrics
from service.predictors.base import OutputT, Predictor, PreparedT, RequestT, ResponseT
from service.settings import Settings

if TYPE_CHECKING:  # the registry builds this module's ReadyModels, so it is imported for types only
    from service.registry import ModelRegistry


@dataclass(frozen=True)
class StageTimers:
    """Histogram children resolved once per model, so a request pays no label lookups."""

    preprocess: Histogram
    postprocess: Histogram

    @classmethod
    def for_model(cls, metrics: Metrics, name: str, device: str) -> "StageTimers":
        return cls(metrics.preprocess_latency.labels(name, device), metrics.postprocess_latency.labels(name, device))


@dataclass(frozen=True)
class ReadyModel(Generic[RequestT, PreparedT, OutputT, ResponseT]):
    """A loaded, warmed model as one operation sees it: nothing here is optional."""

    name: str
    card: ModelCard
    predictor: Predictor[RequestT, PreparedT, OutputT, ResponseT]
    batcher: MicroBatcher[Any, OutputT]
    timers: StageTimers


async def run(
    model: ReadyModel[RequestT, PreparedT, OutputT, ResponseT],
    request: RequestT,
    deadline: float,
    log_fields: dict[str, Any],
) -> ResponseT:
    """Answer one request; InvalidInput, QueueFull and DeadlineExceeded pass through to the error mapping."""
    started = time.perf_counter()
    prepared = model.predictor.preprocess(request)
    model.timers.preprocess.observe(time.perf_counter() - started)
    log_fields.update(prepared.sizes)
    outputs = await model.batcher.submit(prepared.items, deadline)
    started = time.perf_counter()
    try:
        if model.predictor.postprocess_blocks:
            response = await run_in_threadpool(model.predictor.postprocess, request, prepared, outputs)
        else:
            response = model.predictor.postprocess(request, prepared, outputs)
    finally:
        log_fields.update(prepared.sizes)  # postprocess may add what only the forward learnt (tokens)
    model.timers.postprocess.observe(time.perf_counter() - started)
    return response


@dataclass(frozen=True)
class Inference:
    """What an inference needs besides its body: where models are, its deadline, its log line."""

    settings: Settings
    registry: "ModelRegistry"
    deadline: float  # the monotonic time by which the forward pass must start
    log_fields: dict[str, Any]  # sizes for this request's log line (never the inputs)

    async def answer(
        self, kind: type[Predictor[RequestT, PreparedT, OutputT, ResponseT]], model: str | None, request: RequestT
    ) -> ResponseT:
        """Run `request` through the named model (or the task's default) as the operation `kind`."""
        return await run(self.registry.resolve(model, kind), request, self.deadline, self.log_fields)
