"""The ASGI application: Kling routes under ``/v1`` and ``/kling/v1``, files, health."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import __version__
from ..config import Settings
from ..gateway import Gateway
from ..relay import callbacks as relay_callbacks
from . import events, files, handlers, selection, tasks
from .middleware import GatewayMiddleware

PREFIXES = ("/v1", "/kling/v1")


def create_app(
    settings: Settings | None = None,
    *,
    gateway: Gateway | None = None,
    on_started: Callable[[Gateway], Awaitable[None]] | None = None,
) -> FastAPI:
    if gateway is None:
        gateway = Gateway(settings or Settings())

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        if on_started is not None:
            await on_started(gateway)
        try:
            yield
        finally:
            await gateway.stop()

    app = FastAPI(
        title="kling-gateway",
        version=__version__,
        description="Kling media-generation API (official `/v1` and CometAPI `/kling/v1` layouts). "
        "Every error is `{code, message, request_id}` with Kling's official code and HTTP status.",
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    task_routes = tasks.build_router()
    selection_routes = selection.build_router()
    event_routes = events.build_router()
    for prefix in PREFIXES:
        app.include_router(task_routes, prefix=prefix)
        app.include_router(selection_routes, prefix=prefix)
        app.include_router(event_routes, prefix=prefix)
    app.include_router(files.router)
    for prefix in PREFIXES:  # the hot paths (poll, create, list), matched before every other route
        app.router.routes.insert(
            0,
            Route(
                prefix + "/{resource}/{action}/{task_id}",
                tasks.fast_get_task,
                methods=["GET"],
                include_in_schema=False,
            ),
        )
        app.router.routes.insert(
            0,
            Route(
                prefix + "/{resource}/{action}",
                tasks.fast_family_route,
                methods=["GET", "POST"],
                include_in_schema=False,
            ),
        )
    app.include_router(events.ops_router)
    app.include_router(relay_callbacks.build_router())

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["ops"], summary="Liveness and store reachability")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__, "workers": gateway.run_workers})

    handlers.install(app)
    app.add_middleware(GatewayMiddleware)
    return app
