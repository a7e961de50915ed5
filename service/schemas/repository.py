"""The model repository extension's shapes (Triton's, which tritonclient speaks): index, load, unload."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RepositoryState = Literal["READY", "LOADING", "UNAVAILABLE"]


class IndexRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    ready: bool = Field(False, description="true: list only the models that serve")


class RepositoryModel(BaseModel):
    name: str
    version: str = Field(description="the serving version; else the folder's card's, '' when unreadable")
    state: RepositoryState
    reason: str = Field("", description="why it is not READY")


class LoadParameters(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    version: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="a version this server served before (the rollback); absent: the folder's version",
    )
    # Sent by Triton's clients; rnnserve takes a model's configuration from its folder only.
    config: Any = Field(None, description="not supported: a model's configuration is its card.json")


class LoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    parameters: LoadParameters = Field(default_factory=LoadParameters)


class UnloadParameters(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    unload_dependents: bool = Field(
        False, description="accepted for Triton's clients; rnnserve models have none"
    )


class UnloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    parameters: UnloadParameters = Field(default_factory=UnloadParameters)


class RepositoryAnswer(BaseModel):
    name: str
    version: str | None
    status: str = Field(description="swapped (now serving), failed (the serving version kept) or unloaded")
