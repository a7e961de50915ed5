"""Liveness, readiness and Prometheus metrics (open even when an API key is set, and cheap enough to poll),
and the root, which points to /docs."""

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api.deps import MetricsDep, RegistryDep, drain_of
from service.runtime.registry import ModelStatus
from service.schemas.common import Liveness, ModelReadiness, Readiness

router = APIRouter(tags=["health"])


@router.get("/", include_in_schema=False)
async def point_to_docs() -> RedirectResponse:
    """The root has nothing of its own: it sends a browser (or `curl -L`) to the API's docs page."""
    return RedirectResponse("/docs")


@router.head("/healthz", include_in_schema=False)
@router.get("/healthz", response_model=Liveness)
async def check_liveness() -> Liveness:
    """The process answers."""
    return Liveness()


@router.head("/readyz", include_in_schema=False)
@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "not ready yet, or draining"}},
)
async def check_readiness(registry: RegistryDep, request: Request) -> JSONResponse:
    """200 once every artifact was tried and each task's default model is loaded and warm; 503 before, and
    from the moment the server starts draining. Each model's status only: cards are on /v1/models."""
    drain = drain_of(request)
    ready = registry.is_ready() and not drain.draining
    models = [
        ModelReadiness(
            name=entry.name,
            status=entry.status.value,
            reason=entry.reason if entry.status is ModelStatus.UNLOADED else None,
        )
        for entry in registry.entries.values()
    ]
    body = Readiness(ready=ready, draining=drain.draining, models=models)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
async def export_metrics(metrics: MetricsDep) -> Response:
    """Prometheus text format."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
