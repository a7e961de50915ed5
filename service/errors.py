"""The service's named errors, their JSON shapes, and their mapping to HTTP statuses.

`/v1` answers every error as {"error": {"code", "message", "details"}}. The Open Inference Protocol's routes
(`/v2`) answer in that protocol's own shape, {"error": "<message>"}, with 400 for any invalid request
(where `/v1` says 422): clients built for the protocol (KServe's, Triton's) read that shape.
"""

import logging
import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("rnnserve.errors")


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(description="where the fault is, e.g. ['body', 'texts', 0]")
    msg: str


class ErrorBody(BaseModel):
    code: str = Field(description="snake_case error code, e.g. invalid_input")
    message: str
    details: list[ErrorDetail] = []


class ErrorResponse(BaseModel):
    error: ErrorBody


class ServiceError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, details: list[ErrorDetail] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.headers = headers


class InvalidInput(ServiceError):
    status_code, code = 422, "invalid_input"


class Unauthorized(ServiceError):
    status_code, code = 401, "unauthorized"


class ModelNotFound(ServiceError):
    status_code, code = 404, "model_not_found"


class PayloadTooLarge(ServiceError):
    status_code, code = 413, "payload_too_large"


class QueueFull(ServiceError):
    status_code, code = 429, "queue_full"


class ModelNotReady(ServiceError):
    status_code, code = 503, "model_not_ready"


class Draining(ServiceError):
    status_code, code = 503, "draining"


class InvalidState(ServiceError):
    status_code, code = 400, "invalid_state"


class SessionNotFound(ServiceError):
    status_code, code = 404, "session_not_found"


class SessionBusy(ServiceError):
    status_code, code = 409, "session_busy"


class VersionMismatch(ServiceError):
    status_code, code = 409, "version_mismatch"


class StateExpired(ServiceError):
    status_code, code = 410, "state_expired"


class TooManySessions(ServiceError):
    status_code, code = 429, "too_many_sessions"


class DeadlineExceeded(ServiceError):
    status_code, code = 504, "deadline_exceeded"


def documented_errors(model: type[BaseModel], descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for FastAPI: each status documented with the error body `model`."""
    return {status: {"model": model, "description": description} for status, description in descriptions.items()}


# For the OpenAPI schema: every /v1 operation documents the shared error shape.
ERROR_RESPONSES = documented_errors(
    ErrorResponse,
    {
        401: "API key missing or wrong (unauthorized)",
        404: "no model of that name (model_not_found)",
        408: "the request body did not arrive within RNNSERVE_BODY_TIMEOUT_S (body_timeout)",
        413: "request body too large (payload_too_large)",
        422: "invalid input (invalid_input)",
        429: "the model's queue is full, or its queued work would outlast the deadline (queue_full); see Retry-After",
        503: "model loading or failed (model_not_ready), or shutting down (draining)",
        504: "deadline passed before the forward pass (deadline_exceeded)",
        500: "unexpected error (internal_error)",
    },
)

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 408: "body_timeout", 413: "payload_too_large"}


OIP_PREFIX = "/v2"


def speaks_oip(path: str) -> bool:
    return path == OIP_PREFIX or path.startswith(OIP_PREFIX + "/")


def error_response(
    path: str,
    status_code: int,
    code: str,
    message: str,
    details: list[ErrorDetail] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The error as the route at `path` speaks it: the Open Inference Protocol's shape under /v2, ours elsewhere."""
    if speaks_oip(path):
        where = "; ".join(f"{'.'.join(map(str, detail.loc))}: {detail.msg}" for detail in details or [])
        status_code = 400 if status_code == 422 else status_code
        return JSONResponse({"error": f"{message} ({where})" if where else message}, status_code=status_code, headers=headers)
    body = ErrorResponse(error=ErrorBody(code=code, message=message, details=details or []))
    return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)


async def _service_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ServiceError)
    return error_response(request.url.path, error.status_code, error.code, error.message, error.details, error.headers)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    details = [ErrorDetail(loc=list(e.get("loc", ())), msg=str(e.get("msg", ""))) for e in error.errors()]
    return error_response(request.url.path, 422, InvalidInput.code, "the request does not match the schema", details)


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
