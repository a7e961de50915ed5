"""The OpenAPI document: what the routes declare beyond FastAPI's own reading of them.

Inference routes read their body themselves (service/api/body.py), so each declares its body here
(`request_body`, `inference_operation`); the document then gets those models' schemas, the API key
where one is set, and /v2's errors as that protocol answers them.
"""

import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from service.api.errors import speaks_oip
from service.api.router import API_PREFIXES

_documented: dict[str, type[BaseModel]] = {}  # request models whose schemas the OpenAPI components need
# X-Request-Timeout: a positive decimal number of seconds (an exponent allowed), or empty (absent). ASCII
# classes, as JSON Schema's patterns read them (Python's \d and \s would take other scripts' digits).
TIMEOUT_SYNTAX = r"^[ \t]*(\+?(?=[0-9.]*[1-9])([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)?[ \t]*$"
TIMEOUT_HEADER = {
    "name": "X-Request-Timeout",
    "in": "header",
    "required": False,
    "description": "seconds, a positive number such as 2 or 0.5; may only shorten the server's default "
    "deadline; empty means absent",
    "schema": {"type": "string", "pattern": TIMEOUT_SYNTAX},
}
STREAM_RESPONSE = {
    "content": {
        "text/event-stream": {"description": "with stream: one event per token, the last with generated_text"}
    }
}


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """The route's `openapi_extra`: its JSON body, by reference to the model's schema."""
    _documented[model.__name__] = model
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def document_request_bodies(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the request models (and the models they use) to the OpenAPI components."""
    if _documented:
        models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
            (model, "validation") for model in _documented.values()
        ]
        _, definitions = models_json_schema(models, ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in definitions.get("$defs", {}).items():
            components.setdefault(name, definition)
    return schema


def inference_operation(body_model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` of an inference route: its JSON body, the X-Request-Timeout header, and
    `x-retry-safe`: the call changes nothing on the server, so a balancer may resend the POST to another
    replica after a 503 or a cut connection (docker/nginx/default.conf.template does)."""
    return {**request_body(body_model), "parameters": [TIMEOUT_HEADER], "x-retry-safe": True}


def retry_safe(body_model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` of a route that keeps nothing on the server (a state-token call, an infer): a balancer
    may resend it."""
    return {**request_body(body_model), "x-retry-safe": True}


def document_api_key(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare the bearer key on every versioned operation, so that /docs offers 'Authorize'.

    The key is checked by ApiKeyMiddleware, not by a dependency, so FastAPI does not see it by itself.
    """
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["apiKey"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "RNNSERVE_API_KEY, when the server sets one",
    }
    for path, operations in schema.get("paths", {}).items():
        if any(path == prefix or path.startswith(prefix + "/") for prefix in API_PREFIXES):
            for operation in operations.values():
                operation["security"] = [{"apiKey": []}]
    return schema


def document_oip_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents a 422 for every operation with parameters; under /v2 an invalid request is a 400
    (service/api/errors.py), so those 422s, and the validation schemas only they used, are dropped."""
    for path, operations in schema.get("paths", {}).items():
        if speaks_oip(path):
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
    components = schema.get("components", {}).get("schemas", {})
    if '"#/components/schemas/HTTPValidationError"' not in json.dumps(schema.get("paths", {})):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
    return schema


def documented(schema: dict[str, Any], with_api_key: bool) -> dict[str, Any]:
    """FastAPI's schema with the request bodies, /v2's errors and (where a key is set) the API key."""
    schema = document_oip_errors(document_request_bodies(schema))
    return document_api_key(schema) if with_api_key else schema
