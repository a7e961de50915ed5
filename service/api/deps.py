"""Dependencies shared by the routes, as Annotated aliases.

They are `async def` on purpose: FastAPI runs plain `def` dependencies in a thread pool,
and that hop cost milliseconds per request.
"""

import secrets
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from service.errors import InvalidInput, Unauthorized
from service.metrics import Metrics
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


async def require_api_key(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """With RNNSERVE_API_KEY set, every /v1 route needs `Authorization: Bearer <key>`."""
    settings: Settings = request.app.state.settings  # read directly: a sub-dependency costs time on every request
    if settings.api_key is None:
        return
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.encode(), settings.api_key.get_secret_value().encode()):
        raise Unauthorized("missing or wrong API key: send 'Authorization: Bearer <key>'", headers={"WWW-Authenticate": "Bearer"})


@dataclass(frozen=True)
class Inference:
    """What an inference route needs, resolved by one dependency (each dependency costs ~0.1 ms a request)."""

    settings: Settings
    registry: ModelRegistry
    deadline: float  # the monotonic time by which the forward pass must start


async def inference_context(
    request: Request,
    x_request_timeout: Annotated[
        str | None, Header(description="seconds; may only shorten the server's default deadline")
    ] = None,
) -> Inference:
    settings: Settings = request.app.state.settings
    timeout = settings.request_timeout_s
    if x_request_timeout is not None:
        try:
            asked = float(x_request_timeout)
        except ValueError:
            asked = float("nan")
        if not 0 < asked < float("inf"):
            raise InvalidInput("X-Request-Timeout must be a positive number of seconds")
        timeout = min(timeout, asked)
    return Inference(settings, request.app.state.registry, time.monotonic() + timeout)


InferenceDep = Annotated[Inference, Depends(inference_context)]


def record_sizes(request: Request, **sizes: int) -> None:
    """Add input sizes (never the inputs) to this request's log line."""
    request.state.log_fields.update(sizes)
