"""Every error leaves in the Kling envelope with the official code and HTTP status."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..diskfull import disk_full_error, is_disk_full
from ..errors import Code, GatewayError, KlingError, kling_error
from ..schemas.errors import format_errors
from . import envelope
from .middleware import request_id_of

log = logging.getLogger("kling_gateway.api")


def validation_message(exc: RequestValidationError) -> KlingError:
    """FastAPI's parameter errors (routes outside the Kling table) in the same words as the
    service's own validation."""
    errors = exc.errors()
    for err in errors:
        if err.get("type") == "json_invalid":
            return KlingError(
                Code.INVALID_REQUEST, f"request body is not valid JSON: {err.get('msg', '')}".rstrip(": ")
            )
    return format_errors(errors)


def install(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def _gateway(request: Request, exc: GatewayError) -> Response:
        return _answer(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return envelope.error(validation_message(exc), request_id_of(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            err = KlingError(
                Code.INVALID_METHOD, f"method {request.method} is not allowed for {request.url.path}"
            )
        elif exc.status_code == 404:
            err = KlingError(Code.RESOURCE_NOT_FOUND, f"no such route: {request.method} {request.url.path}")
        elif exc.status_code == 413:
            err = KlingError(Code.INVALID_REQUEST, "request body too large")
        else:
            err = KlingError(Code.INVALID_REQUEST, str(exc.detail))
        return envelope.error(err, request_id_of(request))

    async def _unexpected(request: Request, exc: Exception) -> Response:
        return _answer(request, exc)

    # Store and file errors get their own handlers so a full disk is answered like any handled
    # error (503 / 5001, not re-raised by the server-error middleware); the rest as before.
    app.add_exception_handler(OSError, _unexpected)
    app.add_exception_handler(DBAPIError, _unexpected)
    app.add_exception_handler(Exception, _unexpected)


def _answer(request: Request, exc: Exception) -> Response:
    """Any exception in the envelope, through :func:`~kling_gateway.errors.kling_error`; a 5000
    that is not a deliberate :class:`KlingError` is logged with its traceback."""
    rid = request_id_of(request)
    if is_disk_full(exc):  # the request was fine; the server is out of room (nothing was stored)
        log.error("disk full (request %s): %s", rid, exc)
        return envelope.error(disk_full_error(), rid)
    err = kling_error(exc, rid)
    if err.code == Code.INTERNAL and not isinstance(exc, KlingError):
        log.error("unhandled error (request %s)", rid, exc_info=exc)
    return envelope.error(err, rid)
