"""rnnserve on Ray Serve: the same FastAPI app (routes, batchers, limits) behind `serve.ingress`.

    RAY_USAGE_STATS_ENABLED=0 serve run deploy/ray/config.yaml     # from the repository root

Each replica is one Ray actor that builds the app itself (`build_app` runs on the replica, so nothing of
the app is pickled) and runs its lifespan: the models load once per replica, as under uvicorn. The app's
own admission control answers overload (429 with Retry-After), so the deployment lets many requests in
(config.yaml). Every response names its replica in `X-Replica-Id`.
"""

from pathlib import Path

from fastapi import FastAPI
from ray import serve
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.app import create_app
from service.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


class ReplicaIdMiddleware:
    """Adds `X-Replica-Id: <Serve's unique replica id>` to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replica = serve.get_replica_context().replica_id.unique_id.encode()

        async def send_with_replica(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"x-replica-id", replica)]
            await send(message)

        await self.app(scope, receive, send_with_replica)


def build_app() -> FastAPI:
    """The app as `python -m service` serves it; artifacts/ of this checkout unless RNNSERVE_ARTIFACTS_DIR
    says."""
    settings = load_settings()
    if not settings.artifacts_dir.is_absolute():
        settings = settings.model_copy(
            update={"artifacts_dir": REPO / settings.artifacts_dir}
        )  # cwd is Ray's, not ours
    app = create_app(settings)
    app.add_middleware(ReplicaIdMiddleware)
    return app


@serve.deployment
@serve.ingress(build_app)
class RnnServe:
    """One replica of the whole API."""


app = RnnServe.bind()
