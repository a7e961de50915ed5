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


class ModelInfo(BaseModel):
    name: str
    task: str | None
    version: str | None
    status: str = Field(description="ready, loading or failed")
    reason: str | None = Field(None, description="why the model failed to load")
    device: str
    default: bool = Field(description="whether requests that name no model get this one")
    card: dict[str, Any] | None


class ModelDetail(ModelInfo):
    example_request: dict[str, Any] | None = Field(None, description="a request body this model answers")


class ModelList(BaseModel):
    models: list[ModelInfo]


class ModelReadiness(BaseModel):
    name: str
    status: str = Field(description="ready, loading or failed (the reason is on /v1/models)")


class Readiness(BaseModel):
    ready: bool
    draining: bool = Field(description="the server is shutting down: it takes no new requests")
    models: list[ModelReadiness]


class Liveness(BaseModel):
    status: str = "ok"
