"""Request bodies: read, checked and validated in one place.

Every /v1 body is JSON validated by its pydantic model in strict mode (`"5"` is not a number,
`"yes"` not a boolean) straight from the bytes, by pydantic's own parser. Faults are 422
`invalid_input` naming what is wrong: the Content-Type, the encoding (UTF-8 only), JSON nested
deeper than the parser's limit, or a field. A large body is parsed while holding the app's
one parse slot, so the event loop never runs many large parses back to back and health
checks stay prompt while big forecasts arrive. The body has already passed the size and
time limits of BodyLimitsMiddleware when it gets here.

Routes read their body with `read_body(request, Model)` and declare `openapi_extra=request_body(Model)`
(service/api/openapi.py), so the OpenAPI document still shows the schema.
"""

import asyncio
import json
import re
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from service.errors import ErrorDetail, InvalidInput

LARGE_BODY_BYTES = 64 * 1024  # larger bodies wait for the parse slot
BodyT = TypeVar("BodyT", bound=BaseModel)
JSON_KEY = re.compile(rb'"((?:[^"\\]|\\.)*)"\s*:')  # a string followed by a colon: an object's key
UNION_MEMBERS = {"float", "int", "str", "bool"}  # how pydantic names a plain union member in an error's loc


async def read_body(request: Request, model: type[BodyT], content_type_optional: bool = False) -> BodyT:
    """The request's body as `model`; every fault is InvalidInput naming it. With `content_type_optional`
    (the Open Inference Protocol's infer, whose clients may send none), a missing Content-Type means JSON."""
    _check_content_type(request.headers.get("content-type", ""), content_type_optional)
    return await parse_json(request, model, await request.body())


async def parse_json(request: Request, model: type[BodyT], body: bytes) -> BodyT:
    """`body`, JSON bytes, as `model`: UTF-8 checked, large ones parsed while holding the parse slot."""
    if not body:
        raise InvalidInput(
            "the request has no body: send a JSON object", [ErrorDetail(loc=["body"], msg="empty body")]
        )
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInput(
            "the body is not valid UTF-8",
            [ErrorDetail(loc=["body"], msg=f"invalid UTF-8 at byte {error.start}")],
        ) from None
    if len(body) <= LARGE_BODY_BYTES:
        return _validate(model, body)
    slot: asyncio.Semaphore = request.app.state.parse_slot
    async with slot:
        parsed = _validate(model, body)
        await asyncio.sleep(0)  # let the requests queued behind this parse (health checks) run first
        return parsed


def media_type_of(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _check_content_type(content_type: str, optional: bool) -> None:
    media_type = media_type_of(content_type)
    if optional and not media_type:
        return
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise InvalidInput(
            f"Content-Type must be application/json, got {media_type or 'none'}",
            [ErrorDetail(loc=["header", "content-type"], msg="expected application/json")],
        )


def _validate(model: type[BodyT], body: bytes) -> BodyT:
    try:
        parsed = model.model_validate_json(body)
    except ValidationError as error:
        raise _invalid(error) from None
    refuse_repeated_keys(body)
    return parsed


def refuse_repeated_keys(body: bytes) -> None:
    """pydantic keeps the last of a repeated key: refuse the body instead. A regex finds every key in about
    a fortieth of a parse (an escaped quote never starts a match that succeeds); only when some key name
    comes twice (a repeat, or the same key in two objects) is the body parsed again to tell which."""
    keys = JSON_KEY.findall(body)
    if len(keys) != len(set(keys)):
        json.loads(body, object_pairs_hook=unique_keys)


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's members, refused when a key repeats: one JSON has one reading, not "last one wins"."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise InvalidInput(
                f"the JSON body gives the key {key!r} more than once",
                [ErrorDetail(loc=["body", key], msg="a key given twice")],
            )
        seen.add(key)
    return dict(pairs)


def validate_document(model: type[BodyT], document: object) -> BodyT:
    """An already parsed JSON document (the binary extension's header, its tensors filled in) as `model`,
    with the faults a JSON body would have."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise _invalid(error) from None


def _one_per_value(details: list[ErrorDetail]) -> list[ErrorDetail]:
    """One detail per faulty value: pydantic reports a value that fits no member of a union (a history value
    that is neither a number nor a row) once per member, its loc ending with the member's type."""
    kept: list[ErrorDetail] = []
    for detail in details:
        last = detail.loc[-1]
        if isinstance(last, str) and (last in UNION_MEMBERS or "[" in last):
            value = detail.loc[:-1]
            if kept and kept[-1].loc == value:
                continue
            detail = ErrorDetail(loc=value, msg=detail.msg)
        kept.append(detail)
    return kept


def _invalid(error: ValidationError) -> InvalidInput:
    details = _one_per_value(
        [ErrorDetail(loc=["body", *fault["loc"]], msg=str(fault["msg"])) for fault in error.errors()]
    )
    if any("recursion limit" in str(fault["msg"]) for fault in error.errors()):
        message = "the JSON body is nested too deeply"
    elif any(fault["type"] == "json_invalid" for fault in error.errors()):
        message = "the body is not valid JSON"
    else:
        message = "the request does not match the schema"
    return InvalidInput(message, details)
