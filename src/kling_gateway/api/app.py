"""The ASGI application: Kling routes under ``/v1`` and ``/kling/v1``, files, health."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI
from starlette.responses import JSONResponse, Response

from .. import __version__
from ..config import Settings
from ..gateway import Gateway
from ..present import TaskAnswers
from . import (
    account,
    admin,
    console,
    docs_assets,
    events,
    files,
    frontpage,
    handlers,
    models,
    relay_callbacks,
    routes,
    search,
    selection,
    standard2,
    tasks,
)
from .deps import ApiServices
from .middleware import GatewayMiddleware

PREFIXES = ("/v1", "/kling/v1")


def kling_endpoints() -> list[routes.Endpoint]:
    """The Kling route table, hot paths first (routes are tried in order): query, create and
    list, then the selection calls, event streams and callback logs, then the gateway's task
    search. Search comes first: its path is fixed, and a ``/tasks/{task_id}`` route must not
    take it."""
    return [
        *search.endpoints(),
        *tasks.query_endpoints(),
        *tasks.family_endpoints(),
        *selection.endpoints(),
        *events.endpoints(),
        *models.endpoints(),
    ]


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

    endpoints = kling_endpoints()
    account_endpoints = account.endpoints()  # /account/* at the host root and under /kling
    standard2_endpoints = standard2.endpoints()
    app = FastAPI(
        title="kling-gateway",
        version=__version__,
        description="Kling media-generation API (official `/v1` and CometAPI `/kling/v1` layouts). "
        "Every error is `{code, message, request_id}` with Kling's official code and HTTP status.",
        lifespan=lifespan,
        routes=[
            *(routes.mount(prefix, endpoints) for prefix in PREFIXES),
            *(r for prefix in account.PREFIXES for r in routes.flat(prefix, account_endpoints)),
            *(r for prefix in standard2.PREFIXES for r in routes.flat(prefix, standard2_endpoints)),
            relay_callbacks.route,
        ],
    )
    routes.install_openapi(
        app,
        [
            (PREFIXES, endpoints),
            (account.PREFIXES, account_endpoints),
            (standard2.PREFIXES, standard2_endpoints),
        ],
    )
    app.state.services = ApiServices(
        tasks=gateway.service,
        selection=gateway.selection,
        auth=gateway.auth,
        signer=gateway.signer,
        answers=TaskAnswers(gateway.signer),
        settings=gateway.settings,
        storage=gateway.storage,
        hub=gateway.hub,
        push=gateway.push,
        catalog=gateway.catalog,
        relay_callbacks=gateway.relay_callbacks,
        ledger=gateway.ledger,
        accounting=gateway.accounting,
        standard2=gateway.standard2,
    )
    app.state.gateway = gateway  # read by the front page (engines) and by tests
    app.include_router(files.router)
    app.include_router(events.ops_router)
    app.include_router(admin.router)  # /admin/v1: the operator's API (admin token only)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["ops"], summary="Liveness and store reachability")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__, "workers": gateway.run_workers})

    handlers.install(app)
    docs_assets.install(app)  # /docs and /redoc with same-origin assets (work offline)
    frontpage.install(app)  # GET /
    console.install(app)  # /console: the web console's static files
    app.add_middleware(GatewayMiddleware)
    return app
