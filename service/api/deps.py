"""Dependencies shared by the routes, as Annotated aliases.

They are `async def` on purpose: FastAPI runs plain `def` dependencies in a thread pool,
and that hop cost milliseconds per request.
"""

import secrets
import time
from typing import Annotated

from fastapi import Depends, Header, Request

from service.errors import InvalidInput, Unauthorized
from service.metrics import Metrics
from service.registry import ModelRegistry
from service.settings import Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


async def require_api_key(settings: SettingsDep, authorization: Annotated[str | None, Header()] = None) -> None:
    """With RNNSERVE_API_KEY set, every /v1 route needs `Authorization: Bearer <key>`."""
    if settings.api_key is None:
        return
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.encode(), settings.api_key.get_secret_value().encode()):
        raise Unauthorized("missing or wrong API key: send 'Authorization: Bearer <key>'", headers={"WWW-Authenticate": "Bearer"})


async def request_deadline(
    settings: SettingsDep,
    x_request_timeout: Annotated[
        str | None, Header(description="seconds; may only shorten the server's default deadline")
    ] = None,
) -> float:
    """The monotonic time by which the forward pass must start."""
    timeout = settings.request_timeout_s
    if x_request_timeout is not None:
        try:
            asked = float(x_request_timeout)
        except ValueError:
            asked = float("nan")
        if not 0 < asked < float("inf"):
            raise InvalidInput("X-Request-Timeout must be a positive number of seconds")
        timeout = min(timeout, asked)
    return time.monotonic() + timeout


DeadlineDep = Annotated[float, Depends(request_deadline)]


def record_sizes(request: Request, **sizes: int) -> None:
    """Add input sizes (never the inputs) to this request's log line."""
    request.state.log_fields.update(sizes)
