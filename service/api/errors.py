"""Errors as HTTP responses: the one mapping from the named errors (service/errors.py) to statuses and bodies.

`/v1` answers every error as {"error": {"code", "message", "details"}}. The Open Inference Protocol's routes
(`/v2`) answer in that protocol's own shape, {"error": "<message>"}, with 400 for any invalid request
(where `/v1` says 422): clients built for the protocol (KServe's, Triton's) read that shape.
"""

import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.errors import (
    BodyTimeout,
    ErrorBody,
    ErrorDetail,
    ErrorResponse,
    InvalidInput,
    PayloadTooLarge,
    ServiceError,
)


def documented_errors(
    model: type[BaseModel], descriptions: dict[int, str]
) -> dict[int | str, dict[str, Any]]:
    """`responses=` for FastAPI: each status documented with the error body `model`."""
    return {
        status: {"model": model, "description": description} for status, description in descriptions.items()
    }


# For the OpenAPI schema: every /v1 operation documents the shared error shape.
ERROR_RESPONSES = documented_errors(
    ErrorResponse,
    {
        401: "API key missing or wrong (unauthorized)",
        404: "no model of that name (model_not_found)",
        408: "the request body did not arrive within RNNSERVE_BODY_TIMEOUT_S (body_timeout)",
        413: "request body too large (payload_too_large)",
        422: "invalid input (invalid_input)",
        429: "the model's queue is full, or its queued work would outlast the deadline (queue_full); see "
        "Retry-After",
        503: "model loading or failed (model_not_ready), or shutting down (draining)",
        504: "deadline passed before the forward pass (deadline_exceeded)",
        500: "unexpected error (internal_error)",
    },
)

# Starlette's own refusals, in the codes our named errors use for the same statuses
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 408: BodyTimeout.code, 413: PayloadTooLarge.code}


OIP_PREFIX = "/v2"


TIMESERIES_PREFIX = "/v1/timeseries"


def speaks_oip(path: str) -> bool:
    return path == OIP_PREFIX or path.startswith(OIP_PREFIX + "/")


def speaks_kserve_timeseries(path: str) -> bool:
    return path.startswith(TIMESERIES_PREFIX + "/")


def response_for(path: str, error: ServiceError) -> JSONResponse:
    """A named error as the route at `path` answers it (the middleware's refusals, before any route runs)."""
    return error_response(path, error.status_code, error.code, error.message, error.details, error.headers)


def error_response(
    path: str,
    status_code: int,
    code: str,
    message: str,
    details: list[ErrorDetail] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The error as the route at `path` speaks it: the Open Inference Protocol's shape under /v2, ours
    elsewhere."""
    where = "; ".join(f"{'.'.join(map(str, detail.loc))}: {detail.msg}" for detail in details or [])
    if speaks_oip(path):
        status_code = 400 if status_code == 422 else status_code
        return JSONResponse(
            {"error": f"{message} ({where})" if where else message}, status_code=status_code, headers=headers
        )
    if speaks_kserve_timeseries(path):  # KServe's {"error": {"code", "message", "param", "type"}}
        status_code = 400 if status_code == 422 else status_code
        param = ".".join(str(part) for part in details[0].loc if part != "body") if details else None
        error = {
            "code": str(status_code),
            "message": f"{message} ({where})" if where else message,
            "param": param or None,
            "type": code,
        }
        return JSONResponse({"error": error}, status_code=status_code, headers=headers)
    body = ErrorResponse(error=ErrorBody(code=code, message=message, details=details or []))
    return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)


async def _service_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ServiceError)
    return response_for(request.url.path, error)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    details = [ErrorDetail(loc=list(e.get("loc", ())), msg=str(e.get("msg", ""))) for e in error.errors()]
    return error_response(
        request.url.path, 422, InvalidInput.code, "the request does not match the schema", details
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = _HTTP_CODES.get(error.status_code, "http_error")
    headers = error.headers
    documented = documented_methods(request) if error.status_code == 405 else []
    if documented:  # Starlette names one route's methods; a path may have a route per method
        headers = {**(headers or {}), "Allow": ", ".join(documented)}
    return error_response(request.url.path, error.status_code, code, str(error.detail), headers=headers)


def documented_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document gives the request's path."""
    for template, operations in request.app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\{[^/}]+\}", "[^/]+", template), request.url.path):
            return sorted(method.upper() for method in operations)
    return []


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to {"error": {...}}; unexpected exceptions are caught by the request middleware."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
