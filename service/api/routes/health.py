"""Liveness, readiness and Prometheus metrics: open even when an API key is set."""

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api.deps import MetricsDep, RegistryDep
from service.api.routes.models import describe
from service.schemas.common import Liveness, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Liveness)
async def check_liveness() -> Liveness:
    """The process answers."""
    return Liveness()


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness, "description": "not ready yet"}})
async def check_readiness(registry: RegistryDep) -> JSONResponse:
    """200 once every artifact was tried and each task's default model is loaded and warm; 503 before."""
    ready = registry.is_ready()
    body = Readiness(ready=ready, models=[describe(registry, entry) for entry in registry.entries.values()])
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
async def export_metrics(metrics: MetricsDep) -> Response:
    """Prometheus text format."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
