"""One loaded version of a model: its runner on the device, its batcher and inference thread, and the
operations bound to them. A model serves one version at a time; during a reload a second one loads,
warms up and is checked beside it (service/runtime/reloads.py)."""

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from models.artifact import ArtifactError, ModelCard, load_artifact
from service.runtime.batching import MicroBatcher
from service.runtime.contract import ModelRunner, Predictor, ServedTask
from service.runtime.cost import Cost
from service.runtime.metrics import Metrics
from service.runtime.model import Lease, ReadyModel, StageTimers
from service.settings import Settings


@dataclass
class LoadedVersion:
    card: ModelCard
    path: Path  # the folder it was loaded from (the server's kept copy: service/runtime/keep.py)
    runner: ModelRunner[Any, Any]
    # The runner's calibration batches, timed at load: each batch's item costs and its seconds.
    calibration: list[tuple[list[Cost], float]]
    executor: ThreadPoolExecutor | None = None  # the version's own inference thread
    batcher: MicroBatcher[Any, Any] | None = None
    # Once started: its operations by predictor class, each bound to the version's batcher.
    ready: dict[type[Predictor[Any, Any, Any, Any]], ReadyModel[Any, Any, Any, Any]] = field(
        default_factory=dict
    )
    lease: Lease = field(default_factory=Lease)  # the requests using this version

    @property
    def version(self) -> str:
        return self.card.version

    def start(self, settings: Settings, metrics: Metrics, served: ServedTask) -> None:
        """Start the version's batcher and bind each of its operations to it (on the event loop)."""
        name, device = self.card.name, str(self.runner.device)
        # One thread per version: its forward passes never overlap, never block the event loop, and never wait
        # behind another model's (on the CPU the threads share the cores; see models/threads.py).
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"inference-{name}")
        batcher: MicroBatcher[Any, Any] = MicroBatcher(
            name=name,
            device=device,
            run_batch=self.runner.forward,  # the runner's batched forward, on the version's thread
            executor=self.executor,
            metrics=metrics,
            max_batch_size=settings.max_batch_size,
            max_wait_s=settings.max_batch_wait_ms / 1000,
            queue_size=settings.queue_size,
            cost=self.runner.cost,
        )
        for costs, seconds in self.calibration:
            batcher.learn(costs, seconds)
        batcher.start()
        timers = StageTimers.for_model(metrics, name, device)
        self.batcher = batcher
        self.ready = {
            operation: ReadyModel(name, self.card, operation(self.runner), batcher, timers, self.lease)
            for operation in served.operations
        }

    async def close(self) -> None:
        """Stop the batcher and the inference thread; the weights go with the last reference."""
        if self.batcher is not None:
            await self.batcher.stop()
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
        self.ready = {}


def load_version(
    name: str,
    folder: Path,
    device: torch.device,
    tasks: Mapping[str, ServedTask],
    padding_observer: Callable[[int, int], None],
) -> LoadedVersion:
    """Load `folder` strictly as model `name`, move it to the device and warm it up (blocking: on the load
    thread). Raises ArtifactError naming what is wrong."""
    artifact = load_artifact(folder)
    if artifact.card.name != name:
        raise ArtifactError(
            name, f"card names the model {artifact.card.name!r}; the folder must carry that name"
        )
    served = tasks.get(artifact.card.task)
    if served is None:
        raise ArtifactError(name, f"task {artifact.card.task!r} is not served by this rnnserve")
    runner = served.runner(artifact, device)
    runner.warmup()
    calibration = [_timed(runner, batch) for batch in runner.calibration()]
    runner.padding_observer = padding_observer
    return LoadedVersion(artifact.card, folder, runner, calibration)


def _timed(runner: ModelRunner[Any, Any], batch: list[Any]) -> tuple[list[Cost], float]:
    started = time.perf_counter()
    runner.forward(batch)
    return [runner.cost(item) for item in batch], time.perf_counter() - started
