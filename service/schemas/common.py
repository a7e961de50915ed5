"""Shapes shared by every task: the model field, the model listing, health."""

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field


def _integral(value: object) -> object:
    """37.0 is 37: JSON Schema counts an integer-valued number as an integer, so the schema's clients may
    send one; any other number is left for the strict integer check to refuse."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = Annotated[int, BeforeValidator(_integral)]  # an integer field that takes 37.0 as 37
Seed = Annotated[int, Field(ge=0, le=2**63 - 1), BeforeValidator(_integral)]  # a seed, 37.0 taken as 37

ModelName = Annotated[
    str | None,
    Field(
        default=None, min_length=1, max_length=100, description="model to use; the task's default when absent"
    ),
]


class ModelRequest(BaseModel):
    """Every inference request may name its model."""

    model: ModelName = None


class ReloadInfo(BaseModel):
    version: str | None = Field(description="the version tried; null when its card could not be read")
    status: str = Field(description="loading, swapped (it serves) or failed (the serving version kept)")
    reason: str | None = Field(description="why it failed")
    at: str = Field(description="when the attempt began (ISO 8601, UTC)")
    done_at: str | None = Field(description="when it ended: the swap, or the failure; null while loading")


class ModelInfo(BaseModel):
    name: str
    task: str | None
    version: str | None = Field(description="the version that serves (while none has: the folder's)")
    status: str = Field(description="ready, loading, failed or unloaded")
    reason: str | None = Field(None, description="why the model failed to load, or was unloaded")
    device: str
    default: bool = Field(description="whether requests that name no model get this one")
    card: dict[str, Any] | None
    reload: ReloadInfo | None = Field(None, description="the latest attempt to put a version live")


class ModelDetail(ModelInfo):
    example_request: dict[str, Any] | None = Field(None, description="a request body this model answers")


class ModelList(BaseModel):
    models: list[ModelInfo]


class ModelReadiness(BaseModel):
    name: str
    status: str = Field(description="ready, loading, failed or unloaded (the reason is on /v1/models)")
    reason: str | None = Field(None, description="why a model was unloaded (a repository call)")


class Readiness(BaseModel):
    ready: bool
    draining: bool = Field(description="the server is shutting down: it takes no new requests")
    models: list[ModelReadiness]


class Liveness(BaseModel):
    status: str = "ok"
