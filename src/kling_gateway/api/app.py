"""The ASGI application: Kling routes under ``/v1`` and ``/kling/v1``, files, health."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

from .. import __version__, health, logredact
from ..config import Settings
from ..errors import Code
from ..gateway import Gateway
from ..present import TaskAnswers
from ..standard2.records import record
from . import (
    account,
    admin,
    console,
    docs_assets,
    elements,
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
    voices,
)
from .deps import ApiServices
from .middleware import GatewayMiddleware, request_id_of

PREFIXES = ("/v1", "/kling/v1")
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


class GatewayApp(FastAPI):
    """FastAPI with the gateway's own middleware outermost and its services as an attribute.

    ``add_middleware`` would place :class:`GatewayMiddleware` inside FastAPI's server-error,
    telemetry and body-limit layers, which a table route's request would pass through for
    nothing (the middleware answers those requests itself, with the app's exception handlers,
    and guards the body's size); :meth:`build_middleware_stack` wraps the stack FastAPI builds
    in ``gateway_middleware`` instead."""

    services: ApiServices  # what the handlers use (``deps.services_of``)
    gateway_middleware: Callable[[ASGIApp], ASGIApp] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack if self.gateway_middleware is None else self.gateway_middleware(stack)


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
        *elements.endpoints(),
        *voices.endpoints(),
        *events.endpoints(),
        *models.endpoints(),
    ]


def create_app(
    settings: Settings | None = None,
    *,
    gateway: Gateway | None = None,
    on_started: Callable[[Gateway], Awaitable[None]] | None = None,
) -> GatewayApp:
    if gateway is None:
        gateway = Gateway(settings or Settings())

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        logredact.install()  # after the server configured its loggers
        await gateway.start()
        if on_started is not None:
            await on_started(gateway)
        try:
            yield
        finally:
            await gateway.stop()

    endpoints = kling_endpoints()
    tables = [routes.mount(prefix, endpoints) for prefix in PREFIXES]
    account_endpoints = account.endpoints()  # /account/* at the host root and under /kling
    standard2_endpoints = standard2.endpoints()
    app = GatewayApp(
        title="kling-gateway",
        version=__version__,
        description="Kling media-generation API (official `/v1` and CometAPI `/kling/v1` layouts). "
        "Every error is `{code, message, request_id}` with Kling's official code and HTTP status.",
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry probes the global providers on every request; the gateway
        # configures none (its metrics are Prometheus, /metrics), so the probe is pure cost.
        telemetry=NO_TELEMETRY,
        routes=[
            *tables,
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
    app.services = ApiServices(
        tasks=gateway.service,
        selection=gateway.selection,
        auth=gateway.auth,
        signer=gateway.signer,
        answers=TaskAnswers(gateway.signer),
        records=TaskAnswers(gateway.signer, build=record),
        settings=gateway.settings,
        storage=gateway.storage,
        hub=gateway.hub,
        push=gateway.push,
        catalog=gateway.catalog,
        relay_callbacks=gateway.relay_callbacks,
        ledger=gateway.ledger,
        accounting=gateway.accounting,
        standard2=gateway.standard2,
        engines=gateway.router,
        limiter=gateway.limiter,
        creates=gateway.creates,
    )
    app.state.gateway = gateway  # for tests and embedders; no route reads it
    app.include_router(files.router)
    app.include_router(events.ops_router)
    app.include_router(admin.router)  # /admin/v1: the operator's API (admin token only)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get(
        "/healthz",
        tags=["ops"],
        summary="Liveness and store reachability",
        responses={503: {"description": "code 5001: the database or the result storage is unreachable"}},
    )
    async def healthz(request: Request) -> JSONResponse:
        """200 when this process reaches its database and its result storage, else 503 (5001)."""
        database, storage = await asyncio.gather(
            health.check_database(gateway.db), health.check_storage(gateway.storage)
        )
        body: dict[str, object] = {
            "status": "ok" if database is None and storage is None else "unavailable",
            "version": __version__,
            "workers": gateway.run_workers,
            "database": database or "ok",
            "storage": storage or "ok",
        }
        if body["status"] == "ok":
            return JSONResponse(body)
        failing = ", ".join(f"{k}: {v}" for k, v in (("database", database), ("storage", storage)) if v)
        rid = request_id_of(request)
        envelope_part = {"code": Code.UNAVAILABLE, "message": f"unhealthy: {failing}", "request_id": rid}
        return JSONResponse({**envelope_part, **body}, status_code=503)

    handlers.install(app)
    docs_assets.install(app)  # /docs and /redoc with same-origin assets (work offline)
    frontpage.install(app)  # GET /
    console.install(app)  # /console: the web console's static files
    app.gateway_middleware = functools.partial(
        GatewayMiddleware, settings=gateway.settings, auth=gateway.auth, tables=tables
    )
    return app
