"""The service's named errors, each with its HTTP status and code, and the JSON shape of an error.

Every layer raises these; service/api/errors.py turns them into responses, in /v1's shape
{"error": {"code", "message", "details"}} or in the Open Inference Protocol's under /v2.
"""

from pydantic import BaseModel, Field


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

    def __init__(
        self, message: str, details: list[ErrorDetail] | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.headers = headers


class InvalidInput(ServiceError):
    status_code, code = 422, "invalid_input"


class Unauthorized(ServiceError):
    status_code, code = 401, "unauthorized"


class Forbidden(ServiceError):
    status_code, code = 403, "forbidden"


class ModelNotFound(ServiceError):
    status_code, code = 404, "model_not_found"


class BodyTimeout(ServiceError):
    status_code, code = 408, "body_timeout"


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
