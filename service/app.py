"""Build the FastAPI app: the one place where the layers meet (docs/architecture.md).

The runtime (registry, drain, metrics) is given the tasks it serves; the tasks' services (generation,
sessions, the Open Inference Protocol's tensors) are built over the registry; the HTTP layer (routes,
middleware, error mapping, the OpenAPI document) is put on top.
"""

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import torch
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from models.threads import thread_count
from service.api.errors import install_error_handlers
from service.api.middleware import (
    ApiKeyMiddleware,
    BodyLimitsMiddleware,
    DrainingMiddleware,
    RequestContextMiddleware,
)
from service.api.openapi import documented
from service.api.router import API_PREFIXES
from service.api.routes import health, oip, repository, v1
from service.runtime.device import resolve_device
from service.runtime.drain import Drain
from service.runtime.keep import VersionKeeper
from service.runtime.log import configure_logging
from service.runtime.metrics import Metrics
from service.runtime.registry import ModelRegistry
from service.runtime.reloads import ModelReloader
from service.settings import Settings, load_settings
from service.tasks import SERVED_TASKS
from service.tasks.language_model.generation import TextGenerator
from service.tasks.language_model.session_flow import SessionFlow
from service.tasks.language_model.sessions import SessionStore
from service.tasks.language_model.state_tokens import StateCodec
from service.tasks.oip import task_tensors
from service.tasks.timeseries import TimeSeriesForecaster

logger = logging.getLogger("rnnserve.app")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings.log_level)
    torch.set_num_threads(thread_count(settings.threads))  # one rule with training: models/threads.py
    # oneDNN reads this when it first compiles a primitive (the first forward pass), so setting it here takes
    # effect.
    os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] = str(settings.onednn_cache_capacity)
    device = resolve_device(settings.device)  # fails fast on a device that is not there
    metrics = Metrics()
    registry = ModelRegistry(settings, device, metrics, SERVED_TASKS)
    reloader = ModelReloader(registry, VersionKeeper(settings.keep_dir))
    drain = Drain(settings.drain_timeout_s, on_expiry=registry.refuse_all)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        drain.install_signal_hook(asyncio.get_running_loop())
        registry.discover()
        # Load in the background: /healthz answers at once, /readyz turns 200 when loading is done.
        loading = asyncio.create_task(reloader.load_all(), name="load-models")
        if settings.load_before_serving:
            await loading
        background = [loading]
        if settings.reload_interval_s > 0:  # then new versions in the artifacts folder go live by themselves
            background.append(asyncio.create_task(watch_after(loading), name="watch-artifacts"))
        yield
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        reloader.close()
        await registry.close()

    async def watch_after(loading: asyncio.Task[None]) -> None:
        await asyncio.gather(loading, return_exceptions=True)
        await reloader.watch(settings.reload_interval_s)

    # FastAPIOffline serves Swagger UI's files itself, so /docs renders with no internet.
    app = FastAPIOffline(
        title="rnnserve",
        version="1.0.0",
        description="Recurrent sequence models over HTTP: sentiment, next word, generation, perplexity, "
        "forecasts.",
        lifespan=lifespan,
        redoc_url=None,
        # No 307 to the path with or without its trailing slash: its Location would be built from the client's
        # Host.
        redirect_slashes=False,
        # FastAPI's own OpenTelemetry hooks are off: rnnserve exports Prometheus metrics, and the hooks'
        # per-request check for a configured provider cost about 5% of a request's CPU (bench/README.md).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.registry = registry
    app.state.reloader = reloader
    app.state.drain = drain
    app.state.sessions = SessionStore(settings.max_sessions)
    key = settings.session_key
    codec = StateCodec(key.get_secret_value().encode()) if key is not None else None
    app.state.generator = TextGenerator(registry)
    app.state.session_flow = SessionFlow(
        registry, app.state.sessions, codec, app.state.generator, settings.session_ttl_s
    )
    app.state.timeseries = TimeSeriesForecaster(registry)
    app.state.task_tensors = task_tensors(registry, app.state.generator, app.state.session_flow)
    app.state.parse_slot = asyncio.Semaphore(1)  # one large body parsed at a time (service/api/body.py)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(v1)
    app.include_router(oip.v2)
    app.include_router(repository.repository)
    build_openapi = app.openapi

    schema: dict[str, Any] = {}

    def build_documented_openapi() -> dict[str, Any]:
        """Built once: /openapi.json and every 405's Allow header (service/api/errors.py) read it."""
        if not schema:
            schema.update(
                documented(build_openapi(), with_api_key=settings.api_key is not None)
            )  # key only where set
        return schema

    app.openapi = build_documented_openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend it
    add_middleware(app, settings, drain, metrics)
    return app


def add_middleware(app: FastAPI, settings: Settings, drain: Drain, metrics: Metrics) -> None:
    """The request path's layers, outermost last: ids/metrics/log, drain, body limits, CORS, API key.

    Middleware added first runs innermost. The key check sits inside CORS, so that preflights (which carry no
    key) are answered and a 401 still has CORS headers, and outside the app, so that it runs before the body
    is read.
    """
    if settings.api_key is not None:
        app.add_middleware(
            ApiKeyMiddleware, api_key=settings.api_key.get_secret_value(), prefixes=API_PREFIXES
        )
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "X-Request-Timeout"],
        )
    app.add_middleware(
        BodyLimitsMiddleware, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s
    )
    app.add_middleware(DrainingMiddleware, drain=drain, prefixes=API_PREFIXES)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)  # outermost: sees every response
