"""What is loaded: GET /v1/models and GET /v1/models/{name}."""

from dataclasses import asdict

from service.api.deps import RegistryDep
from service.api.router import v1
from service.errors import ModelNotFound
from service.runtime.registry import ModelEntry, ModelRegistry
from service.schemas.common import ModelDetail, ModelInfo, ModelList, ReloadInfo


def describe(registry: ModelRegistry, entry: ModelEntry) -> ModelInfo:
    return ModelInfo(
        name=entry.name,
        task=entry.task,
        version=entry.card.version if entry.card else None,
        status=entry.status.value,
        reason=entry.reason,
        device=str(registry.device),
        default=entry.task is not None and registry.default_name(entry.task) == entry.name,
        card=entry.card.model_dump() if entry.card else None,
        reload=ReloadInfo(**asdict(entry.reload)) if entry.reload else None,
    )


@v1.get("/models", tags=["models"])
async def list_models(registry: RegistryDep) -> ModelList:
    """Every artifact found, with its card, device and status."""
    return ModelList(models=[describe(registry, entry) for entry in registry.entries.values()])


@v1.get("/models/{name}", tags=["models"])
async def read_model(name: str, registry: RegistryDep) -> ModelDetail:
    """One model, plus an example request it answers."""
    entry = registry.entries.get(name)
    if entry is None:
        raise ModelNotFound(f"no model named {name!r}; GET /v1/models lists them")
    example = entry.runner.example_request() if entry.runner else None
    return ModelDetail(**describe(registry, entry).model_dump(), example_request=example)
