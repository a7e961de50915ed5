"""The model repository extension (Triton's, which tritonclient speaks): POST /v2/repository/index,
/v2/repository/models/{name}/load and .../unload. They need `Authorization: Bearer <RNNSERVE_ADMIN_KEY>`;
without an admin key set they answer 403. Bodies are JSON, may be empty, and may carry no Content-Type.

A load with no version loads the model's folder (a forced reload); with `{"parameters": {"version": V}}`
it brings back a version this server served before, from its own copy (service/runtime/keep.py). Either
way the version passes the golden check before it takes traffic; a failed load is a 400 and the serving
version goes on serving.
"""

import secrets
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from models.artifact import card_version
from service.api.body import parse_json
from service.api.deps import registry_of, reloader_of
from service.api.errors import documented_errors
from service.api.openapi import request_body
from service.errors import Forbidden, InvalidInput, ModelNotFound, Unauthorized
from service.runtime.registry import ModelEntry, ModelStatus, ReloadAttempt
from service.runtime.reloads import now_iso
from service.schemas.oip import OipError
from service.schemas.repository import (
    IndexRequest,
    LoadRequest,
    RepositoryAnswer,
    RepositoryModel,
    UnloadRequest,
)
from service.settings import Settings

BodyT = TypeVar("BodyT", bound=BaseModel)


def require_admin(request: Request) -> None:
    settings: Settings = request.app.state.settings
    if settings.admin_key is None:
        raise Forbidden(
            "the model repository API is off: set RNNSERVE_ADMIN_KEY to turn it on; its calls then need "
            "'Authorization: Bearer <admin key>'"
        )
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        token.encode(), settings.admin_key.get_secret_value().encode()
    ):
        raise Unauthorized(
            "missing or wrong admin key: send 'Authorization: Bearer <RNNSERVE_ADMIN_KEY>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


ERRORS = documented_errors(
    OipError,
    {
        400: "invalid body, or the version failed to load or failed its check (the serving one is kept)",
        401: "admin key missing or wrong",
        403: "the repository API is off: RNNSERVE_ADMIN_KEY is not set",
        404: "no model folder of that name, or no kept copy of that version",
    },
)
repository = APIRouter(
    prefix="/v2/repository",
    tags=["model repository (v2)"],
    responses=ERRORS,
    dependencies=[Depends(require_admin)],
)


async def optional_body(request: Request, model: type[BodyT]) -> BodyT:
    """The body as `model`; an empty body (tritonclient's index) is the model's defaults."""
    body = await request.body()
    return model() if not body.strip() else await parse_json(request, model, body)


def optional_body_of(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI entry of a body that may be left out."""
    extra = request_body(model)
    extra["requestBody"]["required"] = False
    return extra


def state_of(entry: ModelEntry) -> RepositoryModel:
    version = entry.card.version if entry.card else ""
    if entry.status is ModelStatus.READY:
        return RepositoryModel(name=entry.name, version=version, state="READY")
    if entry.status is ModelStatus.LOADING:
        return RepositoryModel(name=entry.name, version=version, state="LOADING")
    return RepositoryModel(name=entry.name, version=version, state="UNAVAILABLE", reason=entry.reason or "")


@repository.post("/index", response_model=list[RepositoryModel], openapi_extra=optional_body_of(IndexRequest))
async def index_repository(request: Request) -> list[RepositoryModel]:
    """Every model folder with its serving version and state; folders found since the last scan too."""
    body = await optional_body(request, IndexRequest)
    registry = registry_of(request)
    listed = [state_of(entry) for entry in registry.entries.values()]
    for name, folder in registry.artifact_folders().items():
        if name not in registry.entries:
            version = card_version(folder) or ""
            reason = "found since the last scan: not loaded yet"
            listed.append(RepositoryModel(name=name, version=version, state="UNAVAILABLE", reason=reason))
    return [model for model in listed if model.state == "READY" or not body.ready]


def answered(name: str, attempt: ReloadAttempt) -> RepositoryAnswer:
    if attempt.status != "swapped":
        raise InvalidInput(attempt.reason or f"model {name!r} failed to load")
    return RepositoryAnswer(name=name, version=attempt.version, status=attempt.status)


@repository.post(
    "/models/{name}/load", response_model=RepositoryAnswer, openapi_extra=optional_body_of(LoadRequest)
)
async def load_model(name: str, request: Request) -> RepositoryAnswer:
    """Load the model's folder, or a version served before (`parameters.version`): checked, then swapped
    in."""
    body = await optional_body(request, LoadRequest)
    if body.parameters.config is not None:
        raise InvalidInput("rnnserve reads a model's configuration from its card.json: send no config")
    registry, reloader = registry_of(request), reloader_of(request)
    version = body.parameters.version
    if version is not None:
        kept = reloader.keeper.kept(name, version)
        if kept is None:
            versions = reloader.keeper.versions(name)
            raise ModelNotFound(f"model {name!r} has no kept copy of version {version!r}; kept: {versions}")
        return answered(name, await reloader.install(name, kept, kept=True))
    folder = registry.artifact_folders().get(name)
    if folder is None:
        raise ModelNotFound(f"no model folder named {name!r} under the artifacts folder")
    return answered(name, await reloader.install(name, folder))


@repository.post(
    "/models/{name}/unload", response_model=RepositoryAnswer, openapi_extra=optional_body_of(UnloadRequest)
)
async def unload_model(name: str, request: Request) -> RepositoryAnswer:
    """Stop serving the model: its routes answer 404 until a load call or a new version in its folder.
    Requests already admitted finish first."""
    await optional_body(request, UnloadRequest)
    entry = registry_of(request).entries.get(name)
    if entry is None:
        raise ModelNotFound(f"no model named {name!r}")
    reason = f"unloaded by POST /v2/repository/models/{name}/unload at {now_iso()}"
    await reloader_of(request).unload(name, reason)
    return RepositoryAnswer(name=name, version=entry.card.version if entry.card else None, status="unloaded")
