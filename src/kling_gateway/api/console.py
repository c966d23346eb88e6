"""``/console``: the web console's files (:mod:`kling_gateway.console`), same-origin, no CDN.

The pages are static; everything they show comes from the API with the key the user typed in,
so the console has no powers of its own. Not in the OpenAPI document, no authentication.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import RedirectResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from ..console import STATIC_DIR

PATH = "/console"


def install(app: FastAPI) -> None:
    @app.get(PATH, include_in_schema=False)
    async def console_root() -> RedirectResponse:
        return RedirectResponse(PATH + "/")

    app.router.routes.append(Mount(PATH, StaticFiles(directory=STATIC_DIR, html=True), name="console"))
