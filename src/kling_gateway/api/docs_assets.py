"""``/docs`` (Swagger UI) and ``/redoc`` served with their assets from this process, not a CDN.

A self-hosted gateway is often used offline or behind a firewall: FastAPI's default pages load
Swagger UI and ReDoc from jsDelivr and stay blank there. The assets come from the
``fastapi-standalone-docs`` package (Swagger UI, Apache-2.0; ReDoc, MIT); only its files are used,
not its patching of FastAPI.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"


def assets_dir() -> Path:
    import fastapi_standalone_docs  # type: ignore[import-untyped]

    return Path(fastapi_standalone_docs.__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Replace FastAPI's CDN-backed ``/docs`` and ``/redoc`` with same-origin ones."""
    docs_url, redoc_url, openapi_url = app.docs_url, app.redoc_url, app.openapi_url
    if not openapi_url:
        return
    ours = {docs_url, redoc_url, app.swagger_ui_oauth2_redirect_url}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in ours]
    app.router.routes.append(Mount(ASSETS_PATH, StaticFiles(directory=assets_dir()), name="docs-assets"))
    title = app.title

    def asset(request: Request, name: str) -> str:
        return f"{request.scope.get('root_path', '')}{ASSETS_PATH}/{name}"

    if docs_url:
        redirect_url = app.swagger_ui_oauth2_redirect_url

        @app.get(docs_url, include_in_schema=False)
        async def swagger_ui(request: Request) -> HTMLResponse:
            root = request.scope.get("root_path", "")
            return get_swagger_ui_html(
                openapi_url=root + openapi_url,
                title=f"{title} - Swagger UI",
                swagger_js_url=asset(request, "swagger/swagger-ui-bundle.js"),
                swagger_css_url=asset(request, "swagger/swagger-ui.css"),
                swagger_favicon_url=asset(request, "fastapi/favicon.png"),
                oauth2_redirect_url=(root + redirect_url) if redirect_url else None,
            )

        if redirect_url:

            @app.get(redirect_url, include_in_schema=False)
            async def swagger_redirect() -> HTMLResponse:
                return get_swagger_ui_oauth2_redirect_html()

    if redoc_url:

        @app.get(redoc_url, include_in_schema=False)
        async def redoc(request: Request) -> HTMLResponse:
            return get_redoc_html(
                openapi_url=request.scope.get("root_path", "") + openapi_url,
                title=f"{title} - ReDoc",
                redoc_js_url=asset(request, "redoc/redoc.standalone.js"),
                redoc_favicon_url=asset(request, "fastapi/favicon.png"),
                with_google_fonts=False,
            )
