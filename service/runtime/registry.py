"""The model registry: every artifact folder, its status and serving version; resolves a request's model."""

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import torch

from models.artifact import CARD_FILE, ArtifactError, ModelCard, card_version, read_card
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
from service.runtime.metrics import Metrics
from service.runtime.model import ReadyModel
from service.runtime.versions import LoadedVersion
from service.settings import Settings

logger = logging.getLogger("rnnserve.registry")


class ModelStatus(StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    UNLOADED = "unloaded"  # by a call to the repository API: its routes answer 404 until it is loaded again


@dataclass
class ReloadAttempt:
    """The latest attempt to put a version of a model live, as GET /v1/models/{name} shows it."""

    version: str | None  # None: the folder's card could not be read
    status: str  # loading | swapped | failed
    reason: str | None
    at: str  # when it began: ISO 8601, UTC, to the millisecond
    done_at: str | None = None  # when it ended: the instant of the swap, or of the failure


@dataclass
class ModelEntry:
    name: str
    path: Path  # the model's folder under the artifacts dir
    status: ModelStatus = ModelStatus.LOADING
    reason: str | None = None
    card: ModelCard | None = None  # the serving version's card; before any serves, the folder's
    serving: LoadedVersion | None = None
    reload: ReloadAttempt | None = None
    # What the folder held when it was last tried (its card's version, or how its unreadable card looked),
    # so that a scan retries a folder only when it changed.
    seen: str | None = None
    missing_scans: int = 0  # scans in a row that did not find the folder
    # Whether the task counts this model for readiness: the models found at start, and later ones once served.
    required: bool = True

    @property
    def task(self) -> str | None:
        return self.card.task if self.card else None

    @property
    def runner(self) -> ModelRunner[Any, Any] | None:
        return self.serving.runner if self.serving else None

    @property
    def batcher(self) -> MicroBatcher[Any, Any] | None:
        return self.serving.batcher if self.serving else None

    @property
    def ready(self) -> dict[type[Predictor[Any, Any, Any, Any]], ReadyModel[Any, Any, Any, Any]]:
        return self.serving.ready if self.serving else {}


def folder_state(folder: Path) -> str:
    """What a scan compares: the card's version, or, for a card with none, its size and time."""
    version = card_version(folder)
    if version is not None:
        return version
    try:
        stat = (folder / CARD_FILE).stat()
    except OSError:
        return "unreadable"
    return f"unreadable card: {stat.st_size} bytes, modified {stat.st_mtime_ns}"


class ModelRegistry:
    """Every artifact folder and its status. `tasks` says which runner loads each task's artifacts and
    which operations it serves (service/tasks): the registry knows no task by itself. Loading, reloading
    and unloading are service/runtime/reloads.py's."""

    def __init__(
        self, settings: Settings, device: torch.device, metrics: Metrics, tasks: Mapping[str, ServedTask]
    ) -> None:
        self.settings = settings
        self.tasks_served = tasks
        self.device = device
        self.metrics = metrics
        self.entries: dict[str, ModelEntry] = {}
        self.all_tried = False

    def artifact_folders(self, warn: bool = False) -> dict[str, Path]:
        """Every artifact folder: a folder with a card.json. Hidden ones (half-written staging folders, an
        old version moved aside) are passed over; folders with no card.json (notes, a link back to the root,
        a link loop) are skipped with a warning rather than listed as failed models."""
        root = self.settings.artifacts_dir
        folders = sorted(p for p in root.iterdir() if not p.name.startswith(".")) if root.is_dir() else []
        found = {}
        for folder in folders:
            try:
                is_artifact = folder.is_dir() and (folder / CARD_FILE).is_file()
            except OSError:  # a link loop, or a folder that cannot be read
                is_artifact = False
            if is_artifact:
                found[folder.name] = folder
            elif warn and (folder.is_dir() or folder.is_symlink()):
                logger.warning(
                    "skipped: not an artifact folder (no card.json)",
                    extra={"fields": {"folder": str(folder)}},
                )
        return found

    def discover(self) -> None:
        """List every artifact folder at start, each with its card read (see `new_entry`)."""
        for name, folder in self.artifact_folders(warn=True).items():
            self.entries[name] = self.new_entry(folder)
        if not self.entries:
            logger.warning(
                "no artifact folders", extra={"fields": {"artifacts_dir": str(self.settings.artifacts_dir)}}
            )

    @staticmethod
    def new_entry(folder: Path, required: bool = True) -> ModelEntry:
        """A folder's entry with its card read: its task then counts for readiness even if its weights fail
        to load. A card that cannot be read leaves an entry of no task, which blocks no task; loading it
        meets the same error and fails it with that reason."""
        entry = ModelEntry(name=folder.name, path=folder, seen=folder_state(folder), required=required)
        with contextlib.suppress(ArtifactError):
            entry.card = read_card(folder)
        return entry

    async def close(self) -> None:
        for entry in self.entries.values():
            if entry.serving is not None:
                await entry.serving.close()

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
        """The tasks readiness counts: those of the models found at start, and of models added since once
        they served."""
        return {entry.task for entry in self.entries.values() if entry.task and entry.required}

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
        if entry.status is ModelStatus.UNLOADED:
            raise ModelNotFound(
                f"model {name!r} is unloaded; POST /v2/repository/models/{name}/load loads it"
            )
        if entry.status is not ModelStatus.READY:
            reason = f": {entry.reason}" if entry.reason else ""
            raise ModelNotReady(f"model {name!r} is {entry.status.value}{reason}")
        model = entry.ready.get(operation)
        if model is None:
            raise ModelNotReady(f"model {name!r} does not serve {operation.__name__}")
        return model
