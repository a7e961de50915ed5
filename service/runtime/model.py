"""A ready model as one operation sees it, and the one driver of every inference:
preprocess -> the model's batcher (queue, the runner's forward) -> postprocess.

Routes resolve a model in the registry and call `run` with the request's context. Each stage is
timed into a per-model Prometheus histogram (the batcher times the queue wait and the forward).
"""

import time
from dataclasses import dataclass
from typing import Any, Generic

from prometheus_client import Histogram
from starlette.concurrency import run_in_threadpool

from models.artifact import ModelCard
from service.runtime.batching import MicroBatcher
from service.runtime.contract import OutputT, Predictor, PreparedT, RequestT, ResponseT
from service.runtime.metrics import Metrics


@dataclass
class RequestContext:
    """What an inference needs besides its body: its deadline and its log line."""

    deadline: float  # the monotonic time by which the forward pass must start
    log_fields: dict[str, Any]  # sizes for this request's log line (never the inputs)
    admitted: bool = False  # a later step of a request already admitted (generation): never shed, only 504


@dataclass(frozen=True)
class StageTimers:
    """Histogram children resolved once per model, so a request pays no label lookups."""

    preprocess: Histogram
    postprocess: Histogram

    @classmethod
    def for_model(cls, metrics: Metrics, name: str, device: str) -> "StageTimers":
        return cls(
            metrics.preprocess_latency.labels(name, device), metrics.postprocess_latency.labels(name, device)
        )


@dataclass(frozen=True)
class ReadyModel(Generic[RequestT, PreparedT, OutputT, ResponseT]):
    """A loaded, warmed model as one operation sees it: nothing here is optional."""

    name: str
    card: ModelCard
    predictor: Predictor[RequestT, PreparedT, OutputT, ResponseT]
    batcher: MicroBatcher[Any, OutputT]  # runs the runner's forward over items of many requests
    timers: StageTimers

    async def run(self, request: RequestT, context: RequestContext) -> ResponseT:
        """Answer one request; InvalidInput, QueueFull and DeadlineExceeded pass through to the error
        mapping."""
        started = time.perf_counter()
        prepared = self.predictor.preprocess(request)
        self.timers.preprocess.observe(time.perf_counter() - started)
        context.log_fields.update(prepared.sizes)
        outputs = await self.batcher.submit(prepared.items, context.deadline, admission=not context.admitted)
        context.log_fields.update(self.predictor.measured(outputs))  # what only the forward learnt (tokens)
        started = time.perf_counter()
        if self.predictor.postprocess_blocks:
            response = await run_in_threadpool(self.predictor.postprocess, request, prepared, outputs)
        else:
            response = self.predictor.postprocess(request, prepared, outputs)
        self.timers.postprocess.observe(time.perf_counter() - started)
        return response
