"""A micro-batcher per model: gathers concurrent requests into one forward pass on the model's own thread."""

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from service.errors import DeadlineExceeded, QueueFull, ServiceError
from service.runtime.cost import Cost, CostModel
from service.runtime.metrics import Metrics

ItemT = TypeVar("ItemT")
OutputT = TypeVar("OutputT")


def one_unit(_: object) -> Cost:
    return ("item", 1.0)


@dataclass(frozen=True)
class _Failed:
    """What an item's own forward raised, carried back to its caller alone."""

    error: Exception


@dataclass(eq=False)
class _Pending(Generic[ItemT, OutputT]):
    item: ItemT
    deadline: float  # time.monotonic() seconds
    future: asyncio.Future[OutputT]
    kind: str
    units: float
    queued_at: float = field(default_factory=time.monotonic)
    # set on the model's thread as its forward begins: its answer is coming, deadline or not
    started: bool = False


class MicroBatcher(Generic[ItemT, OutputT]):
    """Runs `run_batch(items) -> results` (the model runner's forward) on `executor` (the model's own thread)
    over batches from a bounded queue.

    A batch is up to `max_batch_size` items. A lone item runs at once; when others are
    already queued, the batcher waits up to `max_wait_s` for the batch to fill. Items whose
    caller went away are dropped before the forward pass, and so are items whose deadline
    passed by the time the model's thread takes the batch up: that moment, not the moment
    the batch was gathered, is when a forward begins.

    Load shedding: a request whose items cannot start before its deadline is refused at once
    (429) rather than left to time out in the queue. The wait is the queued work itself:
    each item's cost is its kind and size (`cost(item)`, e.g. ("perplexity", tokens)), and
    the batcher learns, per kind, a fixed time per batch plus a time per unit from the batches it
    runs (service/runtime/cost.py), so a queue of long perplexity texts and a queue of short
    next-word contexts are told apart, and small batches do not make large ones look expensive.
    A request that finds nothing waiting (the model idle, or running one batch) is never refused.
    """

    def __init__(
        self,
        name: str,
        device: str,
        run_batch: Callable[[list[ItemT]], Sequence[OutputT]],
        executor: Executor,
        metrics: Metrics,
        max_batch_size: int,
        max_wait_s: float,
        queue_size: int,
        cost: Callable[[ItemT], Cost] = one_unit,
    ) -> None:
        self.name = name
        self.device = device
        self.run_batch = run_batch
        self.executor = executor
        self.metrics = metrics
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.queue_size = queue_size
        self.cost = cost
        self._queue: asyncio.Queue[_Pending[ItemT, OutputT]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._waiting: set[_Pending[ItemT, OutputT]] = set()  # queued, caller still there, forward not begun
        self._backlog: dict[str, float] = {}  # units of the waiting items, per kind
        self._backlog_items: dict[str, int] = {}  # and how many items they are
        self._costs = CostModel(max_batch_size)  # fixed plus per-unit seconds per kind, learnt from batches
        self._refusal: ServiceError | None = None  # once set (the drain closed), every submit fails with it
        # Metric children resolved once: a label lookup costs microseconds, here paid per item otherwise.
        labels = (name, device)
        self._queue_depth = metrics.queue_depth.labels(name)
        self._queue_wait = metrics.queue_wait.labels(*labels)
        self._batch_size = metrics.batch_size.labels(*labels)
        self._forward_seconds = metrics.forward_latency.labels(*labels)
        self._item_seconds = metrics.item_latency.labels(*labels)

    def expected_wait(self) -> float:
        """Seconds of queued work ahead of a new item. A kind not yet timed counts as free: never shed on a
        guess."""
        return self._costs.wait(self._backlog, self._backlog_items)

    def learn(self, costs: list[Cost], seconds: float) -> None:
        """A batch timed outside the queue (the runner's calibration at load) teaches the cost estimate."""
        self._costs.learn(costs, seconds)

    def _leave_backlog(self, entry: _Pending[ItemT, OutputT]) -> None:
        if entry in self._waiting:
            self._waiting.discard(entry)
            self._backlog[entry.kind] -= entry.units
            self._backlog_items[entry.kind] -= 1

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._serve(), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None  # its cancellation's traceback holds this batcher's frames

    def refuse(self, error: ServiceError) -> None:
        """From now on fail new and still-waiting items with `error` (the drain's 503); started ones
        finish."""
        self._refusal = error
        for entry in list(self._waiting):
            if not entry.future.done():
                entry.future.set_exception(error)
            self._leave_backlog(entry)

    async def submit(self, items: list[ItemT], deadline: float, admission: bool = True) -> list[OutputT]:
        """Queue all `items` of one request together (or none: 429) and wait for their results. Past its
        `admission` (a later step of a generation, a new version's check), a request is not shed on the
        queue's bound or the wait estimate: if its deadline passes first, it gets the 504 its deadline
        means."""
        if self._refusal is not None:
            raise self._refusal
        if admission and self._queue.qsize() + len(items) > self.queue_size:
            raise QueueFull(
                f"model {self.name!r} has {self._queue.qsize()} items queued (limit {self.queue_size})",
                headers={"Retry-After": "1"},
            )
        wait = self.expected_wait()
        if admission and self._waiting and wait > 0 and time.monotonic() + wait > deadline:
            raise QueueFull(
                f"model {self.name!r} has about {wait:.1f} s of queued work, past this request's deadline",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        loop = asyncio.get_running_loop()
        pending = [_Pending(item, deadline, loop.create_future(), *self.cost(item)) for item in items]
        for entry in pending:
            self._waiting.add(entry)
            self._backlog[entry.kind] = self._backlog.get(entry.kind, 0.0) + entry.units
            self._backlog_items[entry.kind] = self._backlog_items.get(entry.kind, 0) + 1
            self._queue.put_nowait(entry)
        self._queue_depth.set(self._queue.qsize())
        futures = [entry.future for entry in pending]
        try:
            # Answer 504 at the deadline itself, not when the item reaches the head of a long queue.
            done, _ = await asyncio.wait(futures, timeout=max(0.0, deadline - time.monotonic()))
            if len(done) < len(futures):
                if not all(entry.started for entry in pending):
                    raise DeadlineExceeded("the request's deadline passed before its forward pass")
                await asyncio.wait(futures)  # already in a forward pass: its answer is moments away
            # Read every item's outcome, so that no failed future is left unretrieved.
            errors = [future.exception() for future in futures]
            first_error = next((error for error in errors if error is not None), None)
            if first_error is not None:
                raise first_error
            return [future.result() for future in futures]
        finally:
            # A caller that went away (disconnect, cancellation) leaves cancelled futures: the worker skips
            # them.
            for entry in pending:
                entry.future.cancel()
                self._leave_backlog(entry)

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            self._queue_depth.set(self._queue.qsize())
            live = [entry for entry in batch if not entry.future.done()]
            for entry in batch:
                self._leave_backlog(entry)
            if not live:
                continue
            try:
                ran, results, seconds = await loop.run_in_executor(self.executor, self._run, live)
            except Exception as error:  # one bad batch fails its callers, never the batcher
                for entry in live:
                    if not entry.future.done():
                        entry.future.set_exception(error)
                continue
            for entry in live:
                if not entry.started and not entry.future.done():
                    entry.future.set_exception(
                        DeadlineExceeded("the request's deadline passed before its forward pass")
                    )
            if not ran:
                continue
            self._learn(ran, seconds)
            finished = time.monotonic()
            for entry, result in zip(ran, results, strict=True):
                self._item_seconds.observe(finished - entry.queued_at)
                if entry.future.done():
                    continue
                if isinstance(result, _Failed):
                    entry.future.set_exception(result.error)
                else:
                    entry.future.set_result(result)

    def _run(
        self, live: list[_Pending[ItemT, OutputT]]
    ) -> tuple[list[_Pending[ItemT, OutputT]], Sequence[OutputT | _Failed], float]:
        """On the model's thread: drop what expired while the batch waited for it, then run the rest."""
        now = time.monotonic()
        ran = [entry for entry in live if entry.deadline >= now and not entry.future.done()]
        if not ran:
            return ran, [], 0.0
        for entry in ran:
            entry.started = True
            self._queue_wait.observe(now - entry.queued_at)
        self._batch_size.observe(len(ran))
        started = time.perf_counter()
        results = self._isolating([entry.item for entry in ran])
        seconds = time.perf_counter() - started
        self._forward_seconds.observe(seconds)
        return ran, results, seconds

    def _isolating(self, items: list[ItemT]) -> Sequence[OutputT | _Failed]:
        """The batch's results; when its forward raises, each item runs alone, so that only the item at
        fault gets the error and every other caller its answer."""
        try:
            return self.run_batch(items)
        except Exception as error:
            if len(items) == 1:
                return [_Failed(error)]
        outcomes: list[OutputT | _Failed] = []
        for item in items:
            try:
                [result] = self.run_batch([item])
            except Exception as error:
                outcomes.append(_Failed(error))
            else:
                outcomes.append(result)
        return outcomes

    def _learn(self, ran: list[_Pending[ItemT, OutputT]], seconds: float) -> None:
        self._costs.learn([(entry.kind, entry.units) for entry in ran], seconds)

    async def _gather(self) -> list[_Pending[ItemT, OutputT]]:
        batch = [await self._queue.get()]
        wait_until = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = wait_until - time.monotonic()
            if len(batch) == 1 or remaining <= 0:
                break  # nothing else was queued with the first item, or the wait is over
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch
