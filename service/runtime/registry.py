"""The model registry: loads every artifact once, tracks its status, and resolves a request's model."""

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import torch

from models.artifact import CARD_FILE, ArtifactError, ModelCard, load_artifact, read_card
from service.errors import InvalidInput, ModelNotFound, ModelNotReady, ServiceError
from service.runtime.batching import MicroBatcher
from service.runtime.contract import (
    ModelRunner,
    OutputT,
    Predictor,
    PreparedT,
    RequestT,
    ResponseT,
    ServedTask,
)
from service.runtime.cost import Cost
from service.runtime.metrics import Metrics
from service.runtime.model import ReadyModel, StageTimers
from service.settings import Settings

logger = logging.getLogger("rnnserve.registry")


class ModelStatus(StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass
class ModelEntry:
    name: str
    path: Path
    status: ModelStatus = ModelStatus.LOADING
    reason: str | None = None
    card: ModelCard | None = None
    runner: ModelRunner[Any, Any] | None = None
    batcher: MicroBatcher[Any, Any] | None = None
    # Set once the model is ready: its operations by predictor class, each bound to the model's batcher.
    ready: dict[type[Predictor[Any, Any, Any, Any]], ReadyModel[Any, Any, Any, Any]] = field(
        default_factory=dict
    )
    executor: ThreadPoolExecutor | None = None  # the model's own inference thread
    # The runner's calibration batches, timed at load: each batch's item costs and its seconds.
    calibration: list[tuple[list[Cost], float]] = field(default_factory=list)

    @property
    def task(self) -> str | None:
        return self.card.task if self.card else None


class ModelRegistry:
    """Every artifact folder and its status. `tasks` says which runner loads each task's artifacts and
    which operations it serves (service/tasks): the registry knows no task by itself."""

    def __init__(
        self, settings: Settings, device: torch.device, metrics: Metrics, tasks: Mapping[str, ServedTask]
    ) -> None:
        self.settings = settings
        self.tasks_served = tasks
        self.device = device
        self.metrics = metrics
        # Artifacts load one by one on a thread of their own; each loaded model then gets its own inference
        # thread (see _serve), so a flood on one model never holds up another's forward passes.
        self.load_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load")
        self.entries: dict[str, ModelEntry] = {}
        self.all_tried = False

    def discover(self) -> None:
        """List every artifact folder: a folder with a card.json. Hidden ones (half-written staging folders)
        are passed over; folders with no card.json (notes, a link back to the root, a link loop) are
        skipped with a warning rather than listed as failed models."""
        root = self.settings.artifacts_dir
        folders = sorted(p for p in root.iterdir() if not p.name.startswith(".")) if root.is_dir() else []
        for folder in folders:
            try:
                is_artifact = folder.is_dir() and (folder / CARD_FILE).is_file()
            except OSError:  # a link loop, or a folder that cannot be read
                is_artifact = False
            if is_artifact:
                self.entries[folder.name] = self._entry(folder)
            elif folder.is_dir() or folder.is_symlink():
                logger.warning(
                    "skipped: not an artifact folder (no card.json)",
                    extra={"fields": {"folder": str(folder)}},
                )
        if not self.entries:
            logger.warning("no artifact folders", extra={"fields": {"artifacts_dir": str(root)}})

    @staticmethod
    def _entry(folder: Path) -> ModelEntry:
        """A folder's entry with its card read: its task then counts for readiness even if its weights fail
        to load. A card that cannot be read leaves an entry of no task, which blocks no task; loading it
        meets the same error and fails it with that reason."""
        entry = ModelEntry(name=folder.name, path=folder)
        with contextlib.suppress(ArtifactError):
            entry.card = read_card(folder)
        return entry

    async def load_all(self) -> None:
        """Load, move to the device and warm up each artifact in turn, off the event loop."""
        for entry in list(self.entries.values()):
            try:
                await asyncio.get_running_loop().run_in_executor(self.load_executor, self._load, entry)
            except ArtifactError as error:  # our own message: names the model and the field or file at fault
                entry.status, entry.reason = ModelStatus.FAILED, str(error)
                logger.error(
                    "artifact failed to load", extra={"fields": {"model": entry.name, "reason": str(error)}}
                )
                continue
            except Exception:  # torch's or a library's message may carry internal paths: logged, not shown
                entry.status = ModelStatus.FAILED
                entry.reason = (
                    f"artifact {entry.name!r} could not be loaded (unexpected error; see the server log)"
                )
                logger.exception("artifact failed to load", extra={"fields": {"model": entry.name}})
                continue
            self._serve(entry)
            logger.info("model ready", extra={"fields": {"model": entry.name, "device": str(self.device)}})
        self.all_tried = True
        # Everything loaded so far (networks, vocabularies, the app) lives as long as the process: freezing it
        # keeps the garbage collector's full passes from walking it again: measured, a full pass over the 210k
        # objects of the served app took 62 ms (a stall of every request in flight); after freezing, under 1
        # ms.
        gc.collect()
        gc.freeze()
        counts = {
            status.value: sum(e.status is status for e in self.entries.values()) for status in ModelStatus
        }
        fields = {**counts, "device": str(self.device)}
        if self.is_ready():
            logger.info(
                "ready: every artifact tried, each task's default model serving", extra={"fields": fields}
            )
        else:
            logger.error(
                "not ready: no model loaded, or a task's default model failed", extra={"fields": fields}
            )

    def _serve(self, entry: ModelEntry) -> None:
        """Start the loaded model's batcher and bind each of its operations to it."""
        if entry.runner is None or entry.card is None:
            raise RuntimeError(f"model {entry.name!r} has no runner to serve")
        # One thread per model: its forward passes never overlap, never block the event loop, and never wait
        # behind another model's (on the CPU the threads share the cores; see models/threads.py).
        entry.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"inference-{entry.name}")
        served = self.tasks_served[entry.card.task]
        batcher: MicroBatcher[Any, Any] = MicroBatcher(
            name=entry.name,
            device=str(self.device),
            run_batch=entry.runner.forward,  # the runner's batched forward, on the model's thread
            executor=entry.executor,
            metrics=self.metrics,
            max_batch_size=self.settings.max_batch_size,
            max_wait_s=self.settings.max_batch_wait_ms / 1000,
            queue_size=self.settings.queue_size,
            cost=entry.runner.cost,
        )
        for costs, seconds in entry.calibration:
            batcher.learn(costs, seconds)
        batcher.start()
        timers = StageTimers.for_model(self.metrics, entry.name, str(self.device))
        entry.batcher = batcher
        entry.ready = {
            operation: ReadyModel(entry.name, entry.card, operation(entry.runner), batcher, timers)
            for operation in served.operations
        }
        entry.status = ModelStatus.READY

    def _load(self, entry: ModelEntry) -> None:
        artifact = load_artifact(entry.path)
        entry.card = artifact.card
        if artifact.card.name != entry.name:
            raise ArtifactError(
                entry.name, f"card names the model {artifact.card.name!r}; the folder must carry that name"
            )
        served = self.tasks_served.get(artifact.card.task)
        if served is None:
            raise ArtifactError(entry.name, f"task {artifact.card.task!r} is not served by this rnnserve")
        runner = served.runner(artifact, self.device)
        runner.warmup()
        entry.calibration = [self._timed(runner, batch) for batch in runner.calibration()]
        runner.padding_observer = self._padding_observer(entry.name)
        entry.runner = runner

    @staticmethod
    def _timed(runner: ModelRunner[Any, Any], batch: list[Any]) -> tuple[list[Cost], float]:
        started = time.perf_counter()
        runner.forward(batch)
        return [runner.cost(item) for item in batch], time.perf_counter() - started

    def _padding_observer(self, name: str) -> Callable[[int, int], None]:
        real, padding = (
            self.metrics.positions.labels(name, "real"),
            self.metrics.positions.labels(name, "padding"),
        )

        def observe(real_positions: int, total_positions: int) -> None:
            real.inc(real_positions)
            padding.inc(total_positions - real_positions)

        return observe

    async def close(self) -> None:
        for entry in self.entries.values():
            if entry.batcher:
                await entry.batcher.stop()
            if entry.executor:
                entry.executor.shutdown(wait=False, cancel_futures=True)
        self.load_executor.shutdown(wait=False, cancel_futures=True)

    def refuse_all(self, error: ServiceError) -> None:
        """Fail every model's waiting and future items with `error` (the drain closing)."""
        for entry in self.entries.values():
            if entry.batcher is not None:
                entry.batcher.refuse(error)

    def default_name(self, task: str) -> str | None:
        """The settings' default for `task` when that artifact exists, else the task's first model by name."""
        names = sorted(name for name, entry in self.entries.items() if entry.task == task)
        preferred = self.settings.default_models.get(task)
        if preferred in self.entries:
            return preferred
        return names[0] if names else None

    def tasks(self) -> set[str]:
        return {entry.task for entry in self.entries.values() if entry.task}

    def is_ready(self) -> bool:
        """Every artifact tried, at least one model loaded, and each task that has artifacts serves its
        default model."""
        if not self.all_tried or not any(
            entry.status is ModelStatus.READY for entry in self.entries.values()
        ):
            return False
        for task in self.tasks():
            name = self.default_name(task)
            if name is None or self.entries[name].status is not ModelStatus.READY:
                return False
        return True

    def resolve(
        self, name: str | None, operation: type[Predictor[RequestT, PreparedT, OutputT, ResponseT]]
    ) -> ReadyModel[RequestT, PreparedT, OutputT, ResponseT]:
        """The ready model a request asks for, as `operation`: 404 unknown, 422 another task's model,
        503 not ready."""
        task = operation.task
        if name is None:
            name = self.default_name(task)
            if name is None:  # every card is read at discovery: no artifact of this task is installed
                raise ModelNotFound(
                    f"no model of task {task!r} is installed; GET /v1/models lists the models"
                )
        entry = self.entries.get(name)
        if entry is None:
            raise ModelNotFound(f"no model named {name!r}; GET /v1/models lists them")
        if entry.task is not None and entry.task != task:
            raise InvalidInput(f"model {name!r} is a {entry.task} model, not a {task} model")
        if entry.status is not ModelStatus.READY:
            reason = f": {entry.reason}" if entry.reason else ""
            raise ModelNotReady(f"model {name!r} is {entry.status.value}{reason}")
        model = entry.ready.get(operation)
        if model is None:
            raise ModelNotReady(f"model {name!r} does not serve {operation.__name__}")
        return model
