"""A ready model as one operation sees it, and the one driver of every inference:
preprocess -> the model's batcher (queue, the runner's forward) -> postprocess.

Routes resolve a model in the registry and call `run` with the request's context. Each stage is
timed into a per-model Prometheus histogram (the batcher times the queue wait and the forward).
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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


class Lease:
    """Counts the requests using one loaded version of a model. A version swapped out (or unloaded) is
    retired: it is freed once the last request that holds it lets go, so requests admitted before a swap
    finish on the version that admitted them, a generation's later steps included. Used on the event loop
    only."""

    def __init__(self) -> None:
        self.holders = 0
        self._on_idle: Callable[[], None] | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        self.holders += 1
        try:
            yield
        finally:
            self.holders -= 1
            if self.holders == 0 and self._on_idle is not None:
                on_idle, self._on_idle = self._on_idle, None
                on_idle()

    def retire(self, on_idle: Callable[[], None]) -> None:
        """Call `on_idle` now if no request holds the version, else when the last one lets go."""
        if self.holders == 0:
            on_idle()
        else:
            self._on_idle = on_idle


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
    lease: Lease = field(default_factory=Lease)  # shared by every operation of one loaded version

    async def run(self, request: RequestT, context: RequestContext) -> ResponseT:
        """Answer one request; InvalidInput, QueueFull and DeadlineExceeded pass through to the error
        mapping."""
        with self.lease.held():
            return await self._run(request, context)

    async def _run(self, request: RequestT, context: RequestContext) -> ResponseT:
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
