"""Route modules, one per topic. Each /v1 module declares its routes on the versioned router `v1`; importing
them here means that `v1`, taken from this package, carries every route. `oip.v2` is the Open Inference
Protocol's router, `repository.repository` its model repository extension's."""

from service.api.router import v1
from service.api.routes import (
    forecast,
    health,
    language_model,
    models,
    oip,
    repository,
    sentiment,
    sessions,
    timeseries,
)

__all__ = [
    "forecast",
    "health",
    "language_model",
    "models",
    "oip",
    "repository",
    "sentiment",
    "sessions",
    "timeseries",
    "v1",
]
