"""``GET /``: what this server is, its version, what it is configured with, and where to go next.

HTML for a browser, JSON for ``Accept: application/json``. Open (no key needed), so it names
engines and relay channels only: no URLs, keys, paths or counts of anything tenants own.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from .. import __version__
from .deps import ApiServices, services_of

REPO_DOCS = {
    "README.md": "quick start, system packages, configuration",
    "docs/client.md": "the Python SDK and the command line",
    "docs/api.md": "routes, long-poll, errors",
    "docs/engine.md": "what the reference engine renders",
    "docs/relay.md": "relay channels to Kling or CometAPI",
    "docs/push.md": "callbacks and event streams",
    "docs/deploy.md": "running it for real: PostgreSQL, workers, S3",
    "docs/console.md": "the web console at /console",
    "docs/architecture.md": "the parts of the code and the path of a request",
}


def summary(services: ApiServices) -> dict[str, Any]:
    channels = [str(c.get("name", "")) for c in services.settings.channels if isinstance(c, dict)]
    engines = services.engines.names  # filled when the gateway starts
    return {
        "name": "kling-gateway",
        "description": "A self-hostable gateway that speaks the Kling media-generation API "
        "(official /v1 and CometAPI /kling/v1 layouts).",
        "version": __version__,
        "engines": engines,
        "relay_channels": channels,
        "links": {
            "console": "/console/",
            "api_docs": "/docs",
            "redoc": "/redoc",
            "openapi": "/openapi.json",
            "health": "/healthz",
            "api_base_official": "/v1",
            "api_base_cometapi": "/kling/v1",
        },
        "repository_docs": REPO_DOCS,
    }


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def render_html(info: dict[str, Any]) -> str:
    e = html.escape
    engines = ", ".join(e(n) for n in info["engines"]) or "none started"
    channels = ", ".join(e(n) for n in info["relay_channels"]) or "none configured"
    docs = "".join(
        f"<li><code>{e(path)}</code>: {e(what)}</li>" for path, what in info["repository_docs"].items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kling-gateway {e(info["version"])}</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
code {{ background: #f2f2f2; padding: 0 .25rem; border-radius: 3px; }}
h1 small {{ color: #777; font-weight: normal; font-size: 60%; }}
</style></head>
<body>
<h1>kling-gateway <small>{e(info["version"])}</small></h1>
<p>{e(info["description"])}</p>
<h2>Configured</h2>
<ul>
<li>Engines: {engines}</li>
<li>Relay channels: {channels}</li>
</ul>
<h2>Start here</h2>
<ul>
<li><a href="/console/">/console</a>: the web console (your tasks and their media, a playground, keys)</li>
<li><a href="/docs">/docs</a>: interactive API reference (Swagger UI, works offline)</li>
<li><a href="/redoc">/redoc</a>: the same reference as one page</li>
<li><a href="/openapi.json">/openapi.json</a>: the OpenAPI document</li>
<li><a href="/healthz">/healthz</a>: health check</li>
<li>API base: <code>/v1</code> (official layout) or <code>/kling/v1</code> (CometAPI layout);
every call needs a key: <code>kling-gateway keys create --name NAME</code></li>
</ul>
<h2>In the repository</h2>
<ul>{docs}</ul>
</body></html>
"""


def install(app: FastAPI) -> None:
    """Serve the front page at ``/`` (not in the OpenAPI document, no authentication)."""

    @app.get("/", include_in_schema=False)
    async def front_page(request: Request) -> Response:
        info = summary(services_of(request))
        if _wants_json(request):
            return JSONResponse(info)
        return HTMLResponse(render_html(info))
