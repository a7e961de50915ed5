"""What the routes share: the registry and metrics as dependencies, and one call that answers an inference.

Inference routes take the bare Request and call `answer`: FastAPI then resolves no dependency
and does not validate the response a second time (each cost a fraction of a millisecond a
request; see bench/README.md). Their OpenAPI entries come from `inference_operation`.
"""

import time
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response
from pydantic import BaseModel

from service.api.body import read_body, request_body
from service.errors import ErrorDetail, InvalidInput
from service.metrics import Metrics
from service.pipeline import Inference
from service.predictors.base import OutputT, Predictor, PreparedT
from service.registry import ModelRegistry
from service.schemas.common import ModelRequest
from service.settings import Settings

BodyT = TypeVar("BodyT", bound=ModelRequest)
AnswerT = TypeVar("AnswerT", bound=BaseModel)
TIMEOUT_HEADER = {
    "name": "X-Request-Timeout",
    "in": "header",
    "required": False,
    "description": "seconds (a positive number); may only shorten the server's default deadline; empty means absent",
    "schema": {"type": "string"},
}


async def get_registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def inference_of(request: Request) -> Inference:
    """The deadline: the server's default, or less if the client sends X-Request-Timeout."""
    settings: Settings = request.app.state.settings
    timeout = settings.request_timeout_s
    asked_for = request.headers.get("x-request-timeout", "").strip()
    if asked_for:  # an empty header is no header
        try:
            asked = float(asked_for)
        except ValueError:
            asked = float("nan")
        if not 0 < asked < float("inf"):
            raise InvalidInput(
                "X-Request-Timeout must be a positive number of seconds",
                [ErrorDetail(loc=["header", "x-request-timeout"], msg="a positive number of seconds")],
            )
        timeout = min(timeout, asked)
    return Inference(settings, request.app.state.registry, time.monotonic() + timeout, request.state.log_fields)


def json_response(answer: BaseModel) -> Response:
    """The answer as JSON, serialized once by pydantic (it was built and checked by its predictor)."""
    return Response(answer.model_dump_json(), media_type="application/json")


async def answer(
    request: Request, kind: type[Predictor[BodyT, PreparedT, OutputT, AnswerT]], body_model: type[BodyT]
) -> Response:
    """Read the body as `body_model`, run it as the operation `kind`, and answer JSON."""
    inference = inference_of(request)
    body = await read_body(request, body_model)
    result = await inference.answer(kind, body.model, body)
    return json_response(result)


def inference_operation(body_model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` of an inference route: its JSON body, the X-Request-Timeout header, and
    `x-retry-safe`: the call changes nothing on the server, so a balancer may resend the POST to another
    replica after a 503 or a cut connection (docker/nginx/default.conf.template does)."""
    return {**request_body(body_model), "parameters": [TIMEOUT_HEADER], "x-retry-safe": True}
