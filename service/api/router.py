"""The versioned router: every /v1 route is declared on it, so the prefix and the documented
error shape are given once (a route's path, as metrics label it, then carries the prefix).
Health, readiness, metrics and docs stay outside it, and outside the API key."""

from fastapi import APIRouter

from service.errors import ERROR_RESPONSES

API_PREFIXES = ("/v1",)  # what the API key guards; a later /v2 joins here

v1 = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
