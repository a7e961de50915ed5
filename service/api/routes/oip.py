"""The Open Inference Protocol (KServe v2) over REST, beside /v1 and over the same ready models.

GET /v2, /v2/health/live, /v2/health/ready; GET /v2/models/{name}[/versions/{version}] and .../ready;
POST /v2/models/{name}[/versions/{version}]/infer. What each task's tensors are: service/tasks/oip.
Errors are the protocol's {"error": "..."} (service/api/errors.py).
"""

from fastapi import APIRouter, Request, Response

from service.api.binary_tensors import infer_response, read_infer_request
from service.api.deps import (
    RegistryDep,
    drain_of,
    registry_of,
    request_context,
    task_tensors_of,
)
from service.api.errors import documented_errors
from service.api.openapi import retry_safe
from service.errors import InvalidInput, ModelNotFound, ModelNotReady
from service.runtime.registry import ModelEntry, ModelRegistry, ModelStatus
from service.schemas.oip import (
    InferRequest,
    InferResponse,
    ModelMetadata,
    ModelReadinessV2,
    OipError,
    ServerLiveness,
    ServerMetadata,
    ServerReadiness,
)
from service.tasks.oip.tensors import TaskTensors, requested

ERRORS = documented_errors(
    OipError,
    {
        400: "invalid request: tensors, parameters or the model's limits",
        401: "API key missing or wrong",
        404: "no model of that name or version",
        408: "the request body did not arrive within RNNSERVE_BODY_TIMEOUT_S",
        413: "request body over RNNSERVE_MAX_BODY_BYTES",
        429: "the model's queue is full; see Retry-After",
        503: "the model is loading or failed, or the server is draining",
        504: "the deadline passed before the forward pass",
        500: "unexpected error, logged with its traceback",
    },
)
v2 = APIRouter(prefix="/v2", tags=["open inference protocol (v2)"], responses=ERRORS)


def served_entry(
    registry: ModelRegistry, tensors: dict[str, TaskTensors], name: str, version: str | None
) -> tuple[ModelEntry, TaskTensors]:
    """The artifact `name` (at `version`, when the path names one) and its task's tensors; 404 otherwise."""
    entry = registry.entries.get(name)
    if entry is None or entry.card is None or entry.task not in tensors:
        raise ModelNotFound(f"no model named {name!r}")
    if entry.status is ModelStatus.UNLOADED:
        raise ModelNotFound(f"model {name!r} is unloaded")
    if version is not None and version != entry.card.version:
        raise ModelNotFound(f"model {name!r} has version {entry.card.version!r}, not {version!r}")
    return entry, tensors[entry.task]


@v2.get("", response_model=ServerMetadata)
async def read_server_metadata(request: Request) -> ServerMetadata:
    return ServerMetadata(name="rnnserve", version=request.app.version, extensions=["binary_tensor_data"])


@v2.get("/health/live", response_model=ServerLiveness)
async def check_server_live() -> ServerLiveness:
    return ServerLiveness(live=True)


@v2.get("/health/ready", response_model=ServerReadiness)
async def check_server_ready(registry: RegistryDep, request: Request) -> ServerReadiness:
    """200 when /readyz is; otherwise 503, as KServe's own server answers."""
    drain = drain_of(request)
    if drain.draining or not registry.is_ready():
        raise ModelNotReady(
            "the server is draining" if drain.draining else "the models are not all loaded yet"
        )
    return ServerReadiness(ready=True)


@v2.get("/models/{name}", response_model=ModelMetadata)
@v2.get("/models/{name}/versions/{version}", response_model=ModelMetadata)
async def read_model_metadata(name: str, request: Request, version: str | None = None) -> ModelMetadata:
    entry, tensors = served_entry(registry_of(request), task_tensors_of(request), name, version)
    assert entry.card is not None  # served_entry checked it
    return ModelMetadata(
        name=name,
        versions=[entry.card.version],
        platform="pytorch",
        inputs=tensors.inputs(entry.card),
        outputs=tensors.outputs(entry.card),
        parameters=tensors.parameters,
    )


@v2.get("/models/{name}/ready", response_model=ModelReadinessV2)
@v2.get("/models/{name}/versions/{version}/ready", response_model=ModelReadinessV2)
async def check_model_ready(name: str, request: Request, version: str | None = None) -> ModelReadinessV2:
    """200 when the model serves; 503 while it loads or when it failed."""
    entry, _ = served_entry(registry_of(request), task_tensors_of(request), name, version)
    if entry.status is not ModelStatus.READY:
        raise ModelNotReady(f"model {name!r} is {entry.status.value}")
    return ModelReadinessV2(name=name, ready=True)


INFER_OPERATION = retry_safe(InferRequest)


@v2.post("/models/{name}/infer", response_model=InferResponse, openapi_extra=INFER_OPERATION)
@v2.post(
    "/models/{name}/versions/{version}/infer", response_model=InferResponse, openapi_extra=INFER_OPERATION
)
async def infer(name: str, request: Request, version: str | None = None) -> Response:
    """Run the model on the request's tensors; `id` is echoed.

    The body is JSON (a missing Content-Type counts as JSON), or the binary tensor data extension that
    Triton's clients send by default: with the header `Inference-Header-Content-Length`, that many bytes
    of JSON, then the bytes of the inputs whose `parameters.binary_data_size` is set. Outputs come back
    in binary where `parameters.binary_data_output` or an output's `parameters.binary_data` asks.
    """
    context = request_context(request)
    entry, tensors = served_entry(registry_of(request), task_tensors_of(request), name, version)
    assert entry.card is not None  # served_entry checked it
    body, binary = await read_infer_request(request)
    if body.model_name not in (None, name) or body.model_version not in (None, entry.card.version):
        raise InvalidInput(
            f"the body names model {body.model_name!r} version {body.model_version!r}; the path, {name!r}"
        )
    try:
        outputs = await tensors.infer(context, name, body, request.is_disconnected)
    except InvalidInput as error:  # the same fault, in this protocol's terms
        raise tensors.in_protocol_terms(error) from None
    chosen = requested(outputs, body)
    return infer_response(
        InferResponse(model_name=name, model_version=entry.card.version, id=body.id, outputs=chosen), binary
    )
