"""Route modules, one per topic. Each declares its routes on the versioned router `v1`; importing them
here means that `v1`, taken from this package, carries every route."""

from service.api.router import v1
from service.api.routes import forecast, health, language_model, models, sentiment

__all__ = ["forecast", "health", "language_model", "models", "sentiment", "v1"]
