"""Putting versions live without a restart: load, check, swap; unload; notice changed folders.

Every version takes one path, at start and later: the folder is copied (service/runtime/keep.py), loaded
and warmed on the load thread while the serving version keeps answering, started on its own batcher,
checked (service/runtime/golden_check.py), and only then swapped in, at one instant on the event loop.
Requests admitted before the swap finish on the version that admitted them; that version is freed
once the last of them lets go (its lease). A version that fails anywhere on the way is closed, the
serving one keeps serving, and the attempt is kept on the model's entry for GET /v1/models/{name}.
"""

import asyncio
import contextlib
import ctypes
import gc
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from models.artifact import ArtifactError, card_version
from service.runtime.golden_check import check_version
from service.runtime.keep import VersionKeeper
from service.runtime.registry import (
    ModelEntry,
    ModelRegistry,
    ModelStatus,
    ReloadAttempt,
    folder_state,
)
from service.runtime.versions import LoadedVersion, load_version

logger = logging.getLogger("rnnserve.reload")
# Scans in a row that must miss a folder before its model is removed: a folder replaced by two renames is
# missing for an instant, and a scan that falls in it must not unload the model.
MISSING_SCANS_TO_REMOVE = 2


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


async def free(version: LoadedVersion) -> None:
    """Close a retired version and give its memory back. Its weights go with its last reference: the
    batcher drops its stopped worker (whose cancellation traceback would otherwise tie them into a cycle),
    and a collection of the young generations clears any cycle made since start, cheaply, since
    everything loaded at start is frozen out of the collector's walk (load_all)."""
    await version.close()
    del version
    await asyncio.sleep(0)  # the callbacks of the batcher's cancelled task let go of it
    gc.collect()
    trim_heap()


def trim_heap() -> None:
    """Hand freed heap pages back to the system (glibc keeps them otherwise): measured in bench/reload.py,
    resident memory after five swaps of the sentiment model went from 616 MiB to 555 (551 before them)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc (macOS, musl): its allocator decides
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class ModelReloader:
    """Every change to what the registry serves goes through here, one at a time: the first loads, scans,
    load and unload calls."""

    def __init__(self, registry: ModelRegistry, keeper: VersionKeeper) -> None:
        self.registry = registry
        self.keeper = keeper
        # Versions load one at a time on a thread of their own, so a flood on a serving model never waits
        # behind a load, and two reloads of one model never interleave.
        self.load_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load")
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()  # retired versions being closed

    async def load_all(self) -> None:
        """At start: load every discovered folder in turn, then readiness may turn 200."""
        for entry in list(self.registry.entries.values()):
            await self.install(entry.name, entry.path)
        self.registry.all_tried = True
        # Everything loaded so far (networks, vocabularies, the app) lives as long as the process: freezing it
        # keeps the garbage collector's full passes from walking it again: measured, a full pass over the 210k
        # objects of the served app took 62 ms (a stall of every request in flight); after freezing, under 1
        # ms.
        gc.collect()
        gc.freeze()
        entries = self.registry.entries.values()
        counts = {status.value: sum(e.status is status for e in entries) for status in ModelStatus}
        fields = {**counts, "device": str(self.registry.device)}
        if self.registry.is_ready():
            logger.info(
                "ready: every artifact tried, each task's default model serving", extra={"fields": fields}
            )
        else:
            logger.error(
                "not ready: no model loaded, or a task's default model failed", extra={"fields": fields}
            )

    async def install(self, name: str, folder: Path, kept: bool = False) -> ReloadAttempt:
        """Load, check and swap in the version in `folder` (a kept copy when `kept`). The attempt is
        returned and kept on the entry; on failure the serving version, if any, goes on serving."""
        async with self._lock:
            entry = self.registry.entries.get(name)
            if entry is None:  # a folder added while serving: counted for readiness once it serves
                entry = self.registry.entries[name] = self.registry.new_entry(folder, required=False)
            if not kept:
                entry.seen = folder_state(folder)
            attempt = entry.reload = ReloadAttempt(card_version(folder), "loading", None, now_iso())
            if entry.serving is None:
                entry.status = ModelStatus.LOADING
            version = None
            try:
                version = await self._load(name, folder, kept)
                attempt.version = version.version
                version.start(
                    self.registry.settings,
                    self.registry.metrics,
                    self.registry.tasks_served[version.card.task],
                )
                await check_version(version, self.registry.tasks_served[version.card.task])
            except Exception as error:  # every fault keeps the serving version: nothing here may escape
                if version is not None:
                    await version.close()
                self.keeper.prune(name)
                self._failed(entry, attempt, error)
                attempt.done_at = now_iso()
                return attempt
            attempt.status, attempt.done_at = "swapped", now_iso()
            self._swap(entry, version)
            return attempt

    async def _load(self, name: str, folder: Path, kept: bool) -> LoadedVersion:
        def load() -> LoadedVersion:
            copy = folder if kept else self.keeper.stage(name, folder)
            return load_version(
                name, copy, self.registry.device, self.registry.tasks_served, self._observer(name)
            )

        return await asyncio.get_running_loop().run_in_executor(self.load_executor, load)

    def _observer(self, name: str) -> Callable[[int, int], None]:
        metrics = self.registry.metrics
        real, padding = metrics.positions.labels(name, "real"), metrics.positions.labels(name, "padding")

        def observe(real_positions: int, total_positions: int) -> None:
            real.inc(real_positions)
            padding.inc(total_positions - real_positions)

        return observe

    def _swap(self, entry: ModelEntry, version: LoadedVersion) -> None:
        """At one instant: new requests resolve the new version; the old one is freed once idle."""
        old, entry.serving = entry.serving, version
        entry.card, entry.status, entry.reason, entry.required = version.card, ModelStatus.READY, None, True
        self.keeper.record_served(entry.name, version.version)
        if old is not None:
            self._retire(old)
        outcome = "loaded" if old is None else "swapped"
        self.registry.metrics.reloads.labels(entry.name, outcome).inc()
        logger.info(
            f"model {outcome}",
            extra={
                "fields": {
                    "model": entry.name,
                    "version": version.version,
                    "device": str(self.registry.device),
                }
            },
        )

    def _failed(self, entry: ModelEntry, attempt: ReloadAttempt, error: Exception) -> None:
        if isinstance(
            error, ArtifactError
        ):  # our own message: names the model and the field or file at fault
            attempt.reason = str(error)
            logger.error("version failed", extra={"fields": {"model": entry.name, "reason": attempt.reason}})
        else:  # torch's or a library's message may carry internal paths: logged, not shown
            attempt.reason = (
                f"artifact {entry.name!r} could not be loaded (unexpected error; see the server log)"
            )
            logger.exception("version failed", extra={"fields": {"model": entry.name}})
        attempt.status = "failed"
        if entry.serving is None:
            entry.status, entry.reason = ModelStatus.FAILED, attempt.reason
        self.registry.metrics.reloads.labels(entry.name, "failed").inc()

    def _retire(self, version: LoadedVersion) -> None:
        def close() -> None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # the last holder let go outside the loop: the process is ending
                return
            task = loop.create_task(free(version))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

        version.lease.retire(close)

    async def unload(self, name: str, reason: str) -> None:
        """Stop serving `name` (its routes answer 404) and keep it so until a load call or a new version."""
        async with self._lock:
            entry = self.registry.entries[name]
            if entry.serving is not None:
                self._retire(entry.serving)
            entry.serving, entry.status, entry.reason = None, ModelStatus.UNLOADED, reason
            self.registry.metrics.reloads.labels(name, "unloaded").inc()
            logger.info("model unloaded", extra={"fields": {"model": name}})

    async def remove(self, name: str) -> None:
        """A folder gone for good: drain its version, then forget the model."""
        async with self._lock:
            entry = self.registry.entries.pop(name)
            if entry.serving is not None:
                self._retire(entry.serving)
            self.keeper.forget(name)
            self.registry.metrics.reloads.labels(name, "removed").inc()
            logger.info("model removed: its folder is gone", extra={"fields": {"model": name}})

    async def scan(self) -> None:
        """Compare the artifacts folder with what is served: load added or changed folders, remove models
        whose folder stayed missing. An unloaded model stays so until its folder changes."""
        folders = self.registry.artifact_folders()
        for name, folder in folders.items():
            entry = self.registry.entries.get(name)
            if entry is not None:
                entry.missing_scans = 0
            if entry is None or entry.seen != folder_state(folder):
                await self.install(name, folder)
        for name in [name for name in self.registry.entries if name not in folders]:
            entry = self.registry.entries[name]
            entry.missing_scans += 1
            if entry.missing_scans >= MISSING_SCANS_TO_REMOVE:
                await self.remove(name)

    async def watch(self, interval_s: float) -> None:
        """Scan every `interval_s` seconds until cancelled; a failed scan is logged and the next one runs."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.scan()
            except Exception:
                logger.exception("artifact scan failed")

    def close(self) -> None:
        self.load_executor.shutdown(wait=False, cancel_futures=True)
