"""The versioned router: every /v1 route is declared on it, so the prefix and the documented
error shape are given once (a route's path, as metrics label it, then carries the prefix).
Health, readiness, metrics and docs stay outside it, and outside the API key."""

from fastapi import APIRouter

from service.api.errors import ERROR_RESPONSES

# What the API key guards and a drain refuses: /v1, and the Open Inference Protocol's models (its server
# metadata and health stay open, like /healthz).
API_PREFIXES = ("/v1", "/v2/models")

v1 = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
