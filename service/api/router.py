"""The versioned router: every /v1 route is declared on it, so the prefix and the documented
error shape are given once (a route's path, as metrics label it, then carries the prefix).
Health, readiness, metrics and docs stay outside it, and outside the API key."""

from typing import Any

from fastapi import APIRouter

from service.errors import ERROR_RESPONSES

# What the API key guards and a drain refuses: /v1, and the Open Inference Protocol's models (its server
# metadata and health stay open, like /healthz).
API_PREFIXES = ("/v1", "/v2/models")

v1 = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


def document_api_key(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare the bearer key on every versioned operation, so that /docs offers 'Authorize'.

    The key is checked by ApiKeyMiddleware, not by a dependency, so FastAPI does not see it by itself.
    """
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["apiKey"] = {"type": "http", "scheme": "bearer", "description": "RNNSERVE_API_KEY, when the server sets one"}
    for path, operations in schema.get("paths", {}).items():
        if any(path == prefix or path.startswith(prefix + "/") for prefix in API_PREFIXES):
            for operation in operations.values():
                operation["security"] = [{"apiKey": []}]
    return schema
