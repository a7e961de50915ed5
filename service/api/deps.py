"""Dependencies shared by the routes, as Annotated aliases.

They are `async def` on purpose: FastAPI runs plain `def` dependencies in a thread pool,
and that hop cost milliseconds per request.
"""

import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from service import pipeline
from service.errors import InvalidInput
from service.metrics import Metrics
from service.predictors.base import OutputT, Predictor, PreparedT, RequestT, ResponseT
from service.registry import ModelRegistry
from service.settings import Settings


async def get_registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


@dataclass(frozen=True)
class Inference:
    """What an inference route needs, resolved by one dependency (each dependency costs ~0.1 ms a request)."""

    settings: Settings
    registry: ModelRegistry
    deadline: float  # the monotonic time by which the forward pass must start
    log_fields: dict[str, Any]  # sizes for this request's log line (never the inputs)

    async def answer(
        self, kind: type[Predictor[RequestT, PreparedT, OutputT, ResponseT]], model: str | None, request: RequestT
    ) -> ResponseT:
        """Run `request` through the named model (or the task's default) as the operation `kind`."""
        return await pipeline.run(self.registry.resolve(model, kind), request, self.deadline, self.log_fields)


async def inference_context(
    request: Request,
    x_request_timeout: Annotated[
        str | None, Header(description="seconds; may only shorten the server's default deadline")
    ] = None,
) -> Inference:
    settings: Settings = request.app.state.settings
    timeout = settings.request_timeout_s
    if x_request_timeout is not None and x_request_timeout.strip():  # an empty header is no header
        try:
            asked = float(x_request_timeout)
        except ValueError:
            asked = float("nan")
        if not 0 < asked < float("inf"):
            raise InvalidInput("X-Request-Timeout must be a positive number of seconds")
        timeout = min(timeout, asked)
    return Inference(settings, request.app.state.registry, time.monotonic() + timeout, request.state.log_fields)


InferenceDep = Annotated[Inference, Depends(inference_context)]
