"""The FastAPI service: settings, schemas, routes, model registry, predictors, batching, errors."""
