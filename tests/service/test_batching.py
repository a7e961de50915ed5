"""The micro-batcher on its own: batching, no wait when alone, deadlines, dropped callers, full queue."""

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from service.errors import DeadlineExceeded, Draining, QueueFull
from service.runtime.batching import MicroBatcher
from service.runtime.metrics import Metrics


class RecordingModel:
    """Doubles its inputs; remembers each batch; can be held so that requests pile up."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = threading.Event()
        self.release.set()

    def __call__(self, items: list[int]) -> Sequence[int]:
        self.release.wait(timeout=10)
        self.batches.append(list(items))
        return [2 * item for item in items]


async def with_batcher(
    model: RecordingModel, body, max_batch_size: int = 8, queue_size: int = 100, max_wait_s: float = 0.005
):  # type: ignore[no-untyped-def]
    with ThreadPoolExecutor(max_workers=1) as executor:
        batcher = MicroBatcher("m", "cpu", model, executor, Metrics(), max_batch_size, max_wait_s, queue_size)
        batcher.start()
        try:
            return await body(batcher)
        finally:
            model.release.set()
            await batcher.stop()


def far() -> float:
    return time.monotonic() + 30


def test_concurrent_requests_share_a_forward_and_each_gets_its_answer() -> None:
    model = RecordingModel()
    model.release.clear()  # the first batch blocks, so the rest queue up behind it

    async def body(batcher: MicroBatcher) -> list[list[int]]:
        first = asyncio.create_task(batcher.submit([0], far()))
        await asyncio.sleep(0.05)
        rest = [asyncio.create_task(batcher.submit([i], far())) for i in range(1, 6)]
        await asyncio.sleep(0.05)
        model.release.set()
        return [await first, *[await task for task in rest]]

    answers = asyncio.run(with_batcher(model, body))
    assert answers == [[0], [2], [4], [6], [8], [10]]
    assert model.batches == [[0], [1, 2, 3, 4, 5]]


def test_a_lone_request_does_not_wait_for_company() -> None:
    async def body(batcher: MicroBatcher) -> float:
        started = time.perf_counter()
        await batcher.submit([1], far())
        return time.perf_counter() - started

    # With a 2 s batch wait, finishing well inside it shows the lone item never waited for company.
    assert asyncio.run(with_batcher(RecordingModel(), body, max_wait_s=2.0)) < 0.5


def test_batches_never_exceed_the_maximum_size() -> None:
    model = RecordingModel()

    async def body(batcher: MicroBatcher) -> list[int]:
        return await batcher.submit(list(range(20)), far())

    assert asyncio.run(with_batcher(model, body, max_batch_size=8)) == [2 * i for i in range(20)]
    assert [len(batch) for batch in model.batches] == [8, 8, 4]


def test_an_item_past_its_deadline_is_dropped_before_the_forward() -> None:
    model = RecordingModel()

    async def body(batcher: MicroBatcher) -> None:
        await batcher.submit([1], time.monotonic() - 1)

    with pytest.raises(DeadlineExceeded):
        asyncio.run(with_batcher(model, body))
    assert model.batches == []


def test_a_queued_item_is_answered_504_at_its_deadline_and_never_run() -> None:
    """Stuck behind a slow batch, a request gets its 504 when its deadline passes, not when the batch ends."""
    model = RecordingModel()
    model.release.clear()

    async def body(batcher: MicroBatcher) -> tuple[float, list[int]]:
        blocker = asyncio.create_task(batcher.submit([0], far()))
        await asyncio.sleep(0.05)
        began = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await batcher.submit([1], began + 0.2)
        waited = time.monotonic() - began
        model.release.set()
        return waited, await blocker

    waited, blocker_answer = asyncio.run(with_batcher(model, body))
    assert 0.15 < waited < 1.0 and blocker_answer == [0]
    assert model.batches == [[0]]  # the expired item never reached a forward pass


def test_an_item_whose_forward_has_started_gets_its_answer_past_the_deadline() -> None:
    model = RecordingModel()
    model.release.clear()

    async def body(batcher: MicroBatcher) -> list[int]:
        task = asyncio.create_task(batcher.submit([3], time.monotonic() + 0.1))
        await asyncio.sleep(0.3)  # the forward began at once and is held past the deadline
        model.release.set()
        return await task

    assert asyncio.run(with_batcher(model, body)) == [6]


def test_a_caller_that_went_away_is_dropped_before_the_forward() -> None:
    model = RecordingModel()
    model.release.clear()

    async def body(batcher: MicroBatcher) -> list[int]:
        blocker = asyncio.create_task(batcher.submit([0], far()))
        await asyncio.sleep(0.05)
        gone = asyncio.create_task(batcher.submit([1], far()))
        await asyncio.sleep(0.01)
        gone.cancel()  # what a client disconnect does to its request task
        stays = asyncio.create_task(batcher.submit([2], far()))
        await asyncio.sleep(0.01)
        model.release.set()
        await blocker
        return await stays

    assert asyncio.run(with_batcher(model, body)) == [4]
    assert model.batches == [[0], [2]]


def test_a_full_queue_refuses_the_whole_request() -> None:
    model = RecordingModel()
    model.release.clear()

    async def body(batcher: MicroBatcher) -> None:
        blocker = asyncio.create_task(batcher.submit([0], far()))
        await asyncio.sleep(0.05)
        try:
            await batcher.submit([1, 2, 3], far())
        finally:
            model.release.set()
            await blocker

    with pytest.raises(QueueFull):
        asyncio.run(with_batcher(model, body, queue_size=2))
    assert [1, 2, 3] not in model.batches


class SlowModel(RecordingModel):
    """Takes `seconds` per item, so the batcher learns a forward time per item."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def __call__(self, items: list[int]) -> Sequence[int]:
        time.sleep(self.seconds * len(items))
        return super().__call__(items)


def test_a_request_that_cannot_start_before_its_deadline_is_refused_at_once() -> None:
    model = SlowModel(0.05)

    async def body(batcher: MicroBatcher) -> tuple[float, float, list[int]]:
        await batcher.submit([0], far())  # one batch teaches the batcher ~0.05 s per item
        model.release.clear()
        blocker = asyncio.create_task(batcher.submit([1], far()))
        await asyncio.sleep(0.02)
        backlog = [
            asyncio.create_task(batcher.submit([i], far())) for i in range(2, 12)
        ]  # ~0.5 s of work queued
        await asyncio.sleep(0.02)
        began = time.monotonic()
        with pytest.raises(QueueFull) as refused:
            await batcher.submit([99], began + 0.2)
        waited = time.monotonic() - began
        assert int(refused.value.headers["Retry-After"]) >= 1  # type: ignore[index]
        expected = batcher.expected_wait()
        for task in backlog:
            task.cancel()  # callers that leave no longer count as queued work
        await asyncio.sleep(0.01)
        after = batcher.expected_wait()
        model.release.set()
        return waited, expected - after, await blocker

    waited, dropped, answer = asyncio.run(with_batcher(model, body))
    assert waited < 0.15 and answer == [2]  # refused well before its 0.2 s deadline
    assert dropped == pytest.approx(10 * 0.05, rel=0.5)
    assert 99 not in [item for batch in model.batches for item in batch]


def test_a_batch_taken_up_by_its_thread_after_the_deadline_never_runs() -> None:
    """A batch starts when the model's thread takes it up, not when it is gathered: the thread is busy
    (another job), so the item's deadline passes first, and it is answered 504 without a forward."""
    model = RecordingModel()

    async def body() -> None:
        with ThreadPoolExecutor(max_workers=1) as executor:
            batcher: MicroBatcher[int, int] = MicroBatcher(
                "m", "cpu", model, executor, Metrics(), 8, 0.001, 100
            )
            batcher.start()
            busy = threading.Event()
            executor.submit(busy.wait, 5)  # the model's thread is held by something else
            try:
                with pytest.raises(DeadlineExceeded):
                    await batcher.submit([1], time.monotonic() + 0.2)
            finally:
                busy.set()
                await asyncio.sleep(0.1)
                await batcher.stop()

    asyncio.run(body())
    assert model.batches == []


def test_the_wait_estimate_counts_the_queued_work_by_kind_and_size() -> None:
    """One slow perplexity batch must not make cheap next-word requests look expensive (the old per-model
    average did), and a long text's queued units count for more than a short one's."""

    def cost(item: tuple[str, int]) -> tuple[str, float]:
        return item

    def run(items: list[tuple[str, int]]) -> list[int]:
        time.sleep(sum(0.002 * units if kind == "perplexity" else 0.00001 * units for kind, units in items))
        return [units for _, units in items]

    async def body() -> tuple[float, float, list[object]]:
        with ThreadPoolExecutor(max_workers=1) as executor:
            batcher: MicroBatcher[tuple[str, int], int] = MicroBatcher(
                "lm", "cpu", run, executor, Metrics(), 64, 0.001, 1000, cost=cost
            )
            batcher.start()
            try:
                await batcher.submit([("perplexity", 100)], far())  # 0.2 s
                await batcher.submit([("next-word", 10)], far())
                flood = [batcher.submit([("next-word", 10)], time.monotonic() + 0.5) for _ in range(60)]
                outcomes = await asyncio.gather(*flood, return_exceptions=True)
                hold = asyncio.create_task(batcher.submit([("perplexity", 100)], far()))
                await asyncio.sleep(0.01)  # the first long text is running; queue two more behind it
                short = asyncio.create_task(batcher.submit([("perplexity", 5)], far()))
                await asyncio.sleep(0)  # let it queue
                short_wait = batcher.expected_wait()
                long_ = asyncio.create_task(batcher.submit([("perplexity", 500)], far()))
                await asyncio.sleep(0)
                long_wait = batcher.expected_wait()
                await asyncio.gather(hold, short, long_)
                return short_wait, long_wait, outcomes
            finally:
                await batcher.stop()

    short_wait, long_wait, outcomes = asyncio.run(body())
    assert all(outcome == [10] for outcome in outcomes), [o for o in outcomes if o != [10]][:3]
    assert 0 < short_wait < 0.05 and long_wait > 0.8  # 5 units against 5 + 500, at about 2 ms a unit


def test_refusing_fails_waiting_items_and_new_ones_but_lets_started_ones_finish() -> None:
    model = RecordingModel()
    model.release.clear()

    async def body(batcher: MicroBatcher) -> tuple[object, object, object]:
        started = asyncio.create_task(batcher.submit([1], far()))
        await asyncio.sleep(0.05)  # in its forward, held
        waiting = asyncio.create_task(batcher.submit([2], far()))
        await asyncio.sleep(0.05)
        batcher.refuse(Draining("shutting down"))
        model.release.set()
        late = await asyncio.gather(batcher.submit([3], far()), return_exceptions=True)
        return await started, (await asyncio.gather(waiting, return_exceptions=True))[0], late[0]

    started, waiting, late = asyncio.run(with_batcher(model, body))
    assert started == [2] and isinstance(waiting, Draining) and isinstance(late, Draining)


class PoisonedModel(RecordingModel):
    """Fails any batch that holds a negative item, as a forward fails on one malformed input."""

    def __call__(self, items: list[int]) -> Sequence[int]:
        if any(item < 0 for item in items):
            self.batches.append(list(items))
            raise ValueError("a malformed item")
        return super().__call__(items)


def test_a_batch_holding_one_item_whose_forward_raises_answers_all_the_others() -> None:
    model = PoisonedModel()
    model.release.clear()  # hold the first batch, so the rest (the poisoned item among them) share one

    async def body(batcher: MicroBatcher) -> list[object]:
        first = asyncio.create_task(batcher.submit([0], far()))
        await asyncio.sleep(0.05)
        rest = [asyncio.create_task(batcher.submit([i], far())) for i in (1, 2, -1, 3, 4)]
        await asyncio.sleep(0.05)
        model.release.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    answers = asyncio.run(with_batcher(model, body))
    assert answers[:3] == [[0], [2], [4]] and answers[4:] == [[6], [8]]
    assert isinstance(answers[3], ValueError)
    assert [1, 2, -1, 3, 4] in model.batches  # they did share a forward first
