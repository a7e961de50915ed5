"""The Open Inference Protocol's binary tensor data extension, both ways, for /v2's infer.

Triton's clients use it by default. A request with the header `Inference-Header-Content-Length: N` is N
bytes of JSON (the usual infer request, where an input may carry `parameters.binary_data_size` instead
of `data`) followed by those inputs' bytes, in the order of the inputs:
- numbers: little-endian values, row-major (BOOL one byte, FP16 two, FP32 four, ...);
- BYTES: each element as a 4-byte little-endian length followed by its bytes (UTF-8 text here).

Outputs go back in binary when the request asks: per output (`outputs[i].parameters.binary_data`) or for
all (`parameters.binary_data_output`, which Triton's clients send when they name no output). The response
is then its JSON header, with `parameters.binary_data_size` on each binary output in place of `data`,
followed by their bytes, and carries `Inference-Header-Content-Length`. Any disagreement between sizes,
shapes and datatypes is a 400; the body's size limit (413) holds for the whole body.
"""

import json
import math
import struct
from collections.abc import Callable
from typing import Any

import numpy as np
from fastapi import Request, Response

from service.api.body import media_type_of, parse_json, read_body, unique_keys, validate_document
from service.errors import ErrorDetail, InvalidInput
from service.schemas.oip import InferRequest, InferResponse

HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_MEDIA_TYPES = ("", "application/octet-stream", "application/json")
ELEMENT_LENGTH = struct.Struct("<I")  # a BYTES element's length prefix
NUMERIC: dict[str, np.dtype[Any]] = {
    name: np.dtype(code)
    for name, code in {
        "BOOL": "?",
        "UINT8": "<u1",
        "INT8": "<i1",
        "INT16": "<i2",
        "INT32": "<i4",
        "INT64": "<i8",
        "FP16": "<f2",
        "FP32": "<f4",
        "FP64": "<f8",
    }.items()
}
Binary = Callable[[str], bool]  # output name -> whether it goes back in binary


def bad(message: str, where: list[str | int]) -> InvalidInput:
    return InvalidInput(message, [ErrorDetail(loc=where, msg=message)])


async def read_infer_request(request: Request) -> tuple[InferRequest, Binary]:
    """The infer request, JSON or binary, and which outputs the client wants back in binary. The protocol's
    own `binary_data_output` parameter is taken off, so a task sees only its parameters."""
    declared = request.headers.get(HEADER_LENGTH)
    if declared is None:
        body = await read_body(request, InferRequest, content_type_optional=True)
    else:
        body = await _read_binary(request, declared)
    parameters = dict(body.parameters or {})
    everything = parameters.pop("binary_data_output", False)
    if not isinstance(everything, bool):
        raise bad("parameter binary_data_output must be true or false", ["body", "parameters"])
    chosen: dict[str, bool] = {}
    for index, wanted in enumerate(body.outputs or []):
        choice = (wanted.parameters or {}).get("binary_data", everything)
        if not isinstance(choice, bool):
            raise bad("parameter binary_data must be true or false", ["body", "outputs", index, "parameters"])
        chosen[wanted.name] = choice
    body.parameters = parameters or None
    return body, lambda name: chosen.get(name, everything)


async def _read_binary(request: Request, declared: str) -> InferRequest:
    media_type = media_type_of(request.headers.get("content-type", ""))
    if media_type not in BINARY_MEDIA_TYPES:
        raise bad(
            f"a binary infer request is application/octet-stream (or has no Content-Type); got {media_type}",
            ["header", "content-type"],
        )
    body = await request.body()
    if not declared.isdigit() or int(declared) > len(body):
        raise bad(
            f"{HEADER_LENGTH} must be a byte count within the body's {len(body)} bytes; got {declared!r}",
            ["header", HEADER_LENGTH.lower()],
        )
    length = int(declared)
    if length == len(body):  # nothing after the header: a JSON request that says so
        return await parse_json(request, InferRequest, body)
    try:
        document = json.loads(body[:length], object_pairs_hook=unique_keys)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise bad("the binary request's header is not valid JSON", ["body"]) from None
    _fill_inputs(document, memoryview(body)[length:])
    return validate_document(InferRequest, document)


def _fill_inputs(document: object, binary: memoryview) -> None:
    """Put each binary input's values, read from `binary` in order, into its `data`."""
    inputs = document.get("inputs") if isinstance(document, dict) else None
    offset = 0
    for index, tensor in enumerate(inputs if isinstance(inputs, list) else []):
        parameters = tensor.get("parameters") if isinstance(tensor, dict) else None
        size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
        if size is None:
            continue
        where: list[str | int] = ["body", "inputs", index]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise bad("binary_data_size must be a byte count", [*where, "parameters"])
        if "data" in tensor:
            raise bad("an input has either data or binary_data_size, not both", where)
        if offset + size > len(binary):
            raise bad(f"binary_data_size {size} reaches past the body's end", [*where, "parameters"])
        tensor["data"] = _values(tensor, binary[offset : offset + size], where)
        offset += size
    if offset != len(binary):
        raise bad(f"{len(binary) - offset} bytes follow the binary inputs; no input claims them", ["body"])


def _values(tensor: dict[str, Any], chunk: memoryview, where: list[str | int]) -> list[Any]:
    shape, datatype = tensor.get("shape"), tensor.get("datatype")
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise bad("shape must be a list of sizes", [*where, "shape"])
    count = math.prod(shape)
    if datatype == "BYTES":
        elements = _elements(chunk, where)
        if len(elements) != count:
            raise bad(f"the binary data holds {len(elements)} elements; shape {shape} holds {count}", where)
        return elements
    dtype = NUMERIC.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        raise bad(f"datatype {datatype!r} has no binary form here", [*where, "datatype"])
    if len(chunk) != count * dtype.itemsize:
        raise bad(
            f"binary_data_size {len(chunk)} disagrees with shape {shape} of {datatype} "
            f"({count * dtype.itemsize} bytes)",
            [*where, "parameters"],
        )
    values: list[Any] = np.frombuffer(chunk, dtype=dtype).tolist()
    return values


def _elements(chunk: memoryview, where: list[str | int]) -> list[str]:
    """BYTES elements: 4-byte little-endian length, then that many bytes of UTF-8 text."""
    elements, position = [], 0
    while position < len(chunk):
        if position + ELEMENT_LENGTH.size > len(chunk):
            raise bad("a BYTES element's length prefix is cut short", where)
        (size,) = ELEMENT_LENGTH.unpack_from(chunk, position)
        start, position = position + ELEMENT_LENGTH.size, position + ELEMENT_LENGTH.size + size
        if position > len(chunk):
            raise bad("a BYTES element reaches past its binary_data_size", where)
        try:
            elements.append(bytes(chunk[start:position]).decode("utf-8"))
        except UnicodeDecodeError:
            raise bad("a BYTES element is not UTF-8 text", where) from None
    return elements


def infer_response(response: InferResponse, binary: Binary) -> Response:
    """The answer as JSON, or as a JSON header and the binary outputs' bytes where the client asked."""
    document = response.model_dump()
    chunks = []
    for tensor in document["outputs"]:
        if binary(tensor["name"]):
            chunk = _encode(tensor["datatype"], tensor.pop("data"))
            tensor["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
    if not chunks:
        return Response(response.model_dump_json(), media_type="application/json")
    header = json.dumps(document, separators=(",", ":")).encode()
    return Response(
        header + b"".join(chunks),
        media_type="application/octet-stream",
        headers={HEADER_LENGTH: str(len(header))},
    )


def _encode(datatype: str, data: list[Any]) -> bytes:
    if datatype == "BYTES":
        encoded = [str(value).encode() for value in data]
        return b"".join(ELEMENT_LENGTH.pack(len(element)) + element for element in encoded)
    return np.asarray(data, dtype=NUMERIC[datatype]).tobytes()
