"""The Open Inference Protocol's (KServe v2) JSON shapes: server and model metadata, infer request and
response.

Field names and meanings are the protocol's; what each task's tensors mean is in service/tasks/oip.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

Datatype = Literal["BOOL", "UINT8", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"]
MAX_TENSORS = 16  # inputs or requested outputs per request


class TensorMetadata(BaseModel):
    name: str
    datatype: Datatype
    shape: list[int] = Field(description="-1 where the size varies")


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="the request parameters this model takes"
    )


class ServerLiveness(BaseModel):
    live: bool


class ServerReadiness(BaseModel):
    ready: bool


class ModelReadinessV2(BaseModel):
    name: str
    ready: bool


class RequestInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    shape: list[Annotated[int, Strict()]] = Field(
        max_length=4, description='sizes: integers, never 1.0 or "1"'
    )
    datatype: Datatype
    parameters: dict[str, Any] | None = None
    # Nested lists or the flat row-major list, as the protocol allows; checked against `shape` in
    # service/tasks/oip.
    data: list[Any]


class RequestOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"id": "42", "inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["a wonderful "
            "film"]}]}
    ]})  # fmt: skip

    id: str | None = Field(None, max_length=256, description="echoed in the response")
    # Not in the protocol's request, but KServe's Python client sends them; when present they must match the
    # path.
    model_name: str | None = Field(None, max_length=100, description="the model of the path, if sent")
    model_version: str | None = Field(None, max_length=100, description="the version of the path, if sent")
    parameters: dict[str, Any] | None = Field(
        None, description="the model's request parameters (GET the model's metadata)"
    )
    inputs: list[RequestInput] = Field(min_length=1, max_length=MAX_TENSORS)
    outputs: list[RequestOutput] | None = Field(
        None, max_length=MAX_TENSORS, description="the outputs to return; all when absent"
    )


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: Datatype
    data: list[Any] = Field(description="row-major, flattened")


class InferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[ResponseOutput]


class OipError(BaseModel):
    error: str
