"""A micro-batcher per model: gathers concurrent requests into one forward pass off the event loop."""

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from service.errors import DeadlineExceeded, QueueFull
from service.metrics import Metrics

ItemT = TypeVar("ItemT")
OutputT = TypeVar("OutputT")


@dataclass
class _Pending(Generic[ItemT, OutputT]):
    item: ItemT
    deadline: float  # time.monotonic() seconds
    future: asyncio.Future[OutputT]
    queued_at: float = field(default_factory=time.monotonic)
    started: bool = False  # taken into a forward pass: its answer is coming, deadline or not
    waiting: bool = True  # counted in the batcher's backlog until it starts or its caller leaves


class MicroBatcher(Generic[ItemT, OutputT]):
    """Runs `run_batch(items) -> results` on an executor over batches gathered from a bounded queue.

    A batch is up to `max_batch_size` items. A lone item runs at once; when others are
    already queued, the batcher waits up to `max_wait_s` for the batch to fill. Items whose
    deadline passed or whose caller went away are dropped before the forward pass.

    Load shedding: a request whose items cannot start before its deadline, by the backlog
    times the recent forward time per item, is refused at once (429) rather than left to
    time out in the queue.
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
    ) -> None:
        self.name = name
        self.device = device
        self.run_batch = run_batch
        self.executor = executor
        self.metrics = metrics
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.queue_size = queue_size
        self._queue: asyncio.Queue[_Pending[ItemT, OutputT]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._backlog = 0  # items queued whose callers still wait and whose forward has not started
        self._seconds_per_item = 0.0  # moving average over recent batches; 0 until the first batch

    def expected_wait(self) -> float:
        """Seconds of queued work ahead of a new item."""
        return self._backlog * self._seconds_per_item

    def _leave_backlog(self, entry: _Pending[ItemT, OutputT]) -> None:
        if entry.waiting:
            entry.waiting = False
            self._backlog -= 1

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._serve(), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)

    async def submit(self, items: list[ItemT], deadline: float) -> list[OutputT]:
        """Queue all `items` of one request together (or none: 429) and wait for their results."""
        if self._queue.qsize() + len(items) > self.queue_size:
            raise QueueFull(
                f"model {self.name!r} has {self._queue.qsize()} items queued (limit {self.queue_size})",
                headers={"Retry-After": "1"},
            )
        wait = self.expected_wait()
        if wait > 0 and time.monotonic() + wait > deadline:
            raise QueueFull(
                f"model {self.name!r} has about {wait:.1f} s of queued work, past this request's deadline",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        loop = asyncio.get_running_loop()
        pending = [_Pending(item, deadline, loop.create_future()) for item in items]
        self._backlog += len(pending)
        for entry in pending:
            self._queue.put_nowait(entry)
        self.metrics.queue_depth.labels(self.name).set(self._queue.qsize())
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
            # A caller that went away (disconnect, cancellation) leaves cancelled futures: the worker skips them.
            for entry in pending:
                entry.future.cancel()
                self._leave_backlog(entry)

    async def _serve(self) -> None:
        while True:
            batch = await self._gather()
            self.metrics.queue_depth.labels(self.name).set(self._queue.qsize())
            now = time.monotonic()
            live = []
            for entry in batch:
                self._leave_backlog(entry)
                if entry.future.done():
                    continue
                if now > entry.deadline:
                    entry.future.set_exception(DeadlineExceeded("the request's deadline passed before its forward pass"))
                    continue
                live.append(entry)
            if not live:
                continue
            labels = (self.name, self.device)
            for entry in live:
                entry.started = True
                self.metrics.queue_wait.labels(*labels).observe(now - entry.queued_at)
            self.metrics.batch_size.labels(*labels).observe(len(live))
            started = time.perf_counter()
            try:
                results = await asyncio.get_running_loop().run_in_executor(
                    self.executor, self.run_batch, [entry.item for entry in live]
                )
            except Exception as error:  # one bad batch fails its callers, never the batcher
                for entry in live:
                    if not entry.future.done():
                        entry.future.set_exception(error)
                continue
            elapsed = time.perf_counter() - started
            self.metrics.forward_latency.labels(*labels).observe(elapsed)
            per_item = elapsed / len(live)
            self._seconds_per_item = per_item if self._seconds_per_item == 0 else 0.8 * self._seconds_per_item + 0.2 * per_item
            finished = time.monotonic()
            for entry, result in zip(live, results, strict=True):
                self.metrics.item_latency.labels(*labels).observe(finished - entry.queued_at)
                if not entry.future.done():
                    entry.future.set_result(result)

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
