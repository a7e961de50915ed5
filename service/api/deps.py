"""What the routes share: the app's parts as dependencies, the request's context, and one call that runs
an operation.

Inference routes take the bare Request and call `run_operation`: FastAPI then resolves no dependency
and does not validate the response a second time (each cost a fraction of a millisecond a
request; see bench/README.md). Their OpenAPI entries come from service/api/openapi.py.
"""

import re
import time
from typing import Annotated, TypeVar

from fastapi import Depends, Request, Response
from pydantic import BaseModel

from service.api.body import read_body
from service.api.openapi import TIMEOUT_SYNTAX
from service.errors import ErrorDetail, InvalidInput
from service.runtime.contract import OutputT, Predictor, PreparedT
from service.runtime.drain import Drain
from service.runtime.metrics import Metrics
from service.runtime.model import RequestContext
from service.runtime.registry import ModelRegistry
from service.runtime.reloads import ModelReloader
from service.schemas.common import ModelRequest
from service.settings import Settings
from service.tasks.language_model.generation import TextGenerator
from service.tasks.language_model.session_flow import SessionFlow
from service.tasks.oip.tensors import TaskTensors
from service.tasks.timeseries import TimeSeriesForecaster

BodyT = TypeVar("BodyT", bound=ModelRequest)
TIMEOUT_PATTERN = re.compile(TIMEOUT_SYNTAX)
ResponseT = TypeVar("ResponseT", bound=BaseModel)


async def get_registry(request: Request) -> ModelRegistry:
    return registry_of(request)


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def registry_of(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


def reloader_of(request: Request) -> ModelReloader:
    reloader: ModelReloader = request.app.state.reloader
    return reloader


def timeseries_of(request: Request) -> TimeSeriesForecaster:
    forecaster: TimeSeriesForecaster = request.app.state.timeseries
    return forecaster


def drain_of(request: Request) -> Drain:
    drain: Drain = request.app.state.drain
    return drain


def generator_of(request: Request) -> TextGenerator:
    generator: TextGenerator = request.app.state.generator
    return generator


def sessions_of(request: Request) -> SessionFlow:
    flow: SessionFlow = request.app.state.session_flow
    return flow


def task_tensors_of(request: Request) -> dict[str, TaskTensors]:
    tensors: dict[str, TaskTensors] = request.app.state.task_tensors
    return tensors


def request_context(request: Request) -> RequestContext:
    """The deadline (the server's default, or less if the client sends X-Request-Timeout) and the log line."""
    settings: Settings = request.app.state.settings
    timeout = settings.request_timeout_s
    asked_for = request.headers.get("x-request-timeout", "")
    if asked_for.strip(" \t"):  # an empty header is no header
        if not TIMEOUT_PATTERN.fullmatch(asked_for):
            raise InvalidInput(
                "X-Request-Timeout must be a positive number of seconds, such as 2 or 0.5",
                [
                    ErrorDetail(
                        loc=["header", "x-request-timeout"], msg=f"a number of seconds ({TIMEOUT_SYNTAX})"
                    )
                ],
            )
        timeout = min(timeout, float(asked_for))  # a number too small for a float is 0: already past
    return RequestContext(time.monotonic() + timeout, request.state.log_fields)


def json_response(body: BaseModel) -> Response:
    """The body as JSON, serialized once by pydantic (it was built and checked by its predictor)."""
    return Response(body.model_dump_json(), media_type="application/json")


async def run_operation(
    request: Request,
    operation: type[Predictor[BodyT, PreparedT, OutputT, ResponseT]],
    body_model: type[BodyT],
) -> Response:
    """Read the body as `body_model`, run it through `operation` on the named model (or the task's
    default), and answer JSON."""
    context = request_context(request)
    body = await read_body(request, body_model)
    result = await registry_of(request).resolve(body.model, operation).run(body, context)
    return json_response(result)
