"""HTTP/1.1 protocol limits uvicorn does not have: a header deadline, a body deadline, and 431.

uvicorn's HTTP protocols only have an idle keep-alive timeout, which any byte resets, so a client
sending one header byte every few seconds (slowloris) holds a connection forever. Here:

* the request line and headers must arrive within ``header_timeout_seconds`` of the connection
  opening (or of the previous response), else 408;
* the body must arrive within ``body_timeout_seconds`` of the headers, else 408;
* a request line + header block above ``max_header_bytes`` is 431, not 400.

Every such answer is the Kling envelope (code 1200) and closes the connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .config import Settings
from .ids import new_request_id
from .schemas.encoding import dumps

REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


def envelope_response(status: int, message: str) -> bytes:
    """A complete ``Connection: close`` HTTP/1.1 response carrying the Kling error envelope."""
    rid = new_request_id()
    body = dumps({"code": 1200, "message": message, "request_id": rid}).encode()
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        b"x-request-id: %s\r\nconnection: close\r\n\r\n"
    ) % (status, REASONS.get(status, b"Error"), len(body), rid.encode())
    return head + body


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (a C parser: h11's pure-Python one cost more CPU per request
    than the whole cached query) with the deadlines above; configure with :func:`protocol_for`.

    The phase is the parser's: ``headers`` from the connection (or the previous response) until
    the header block is complete, ``body`` until the message is, then nothing until the response
    is complete."""

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    max_header_bytes: int = 16 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._phase: str | None = "headers"
        self._header_bytes = 0

    # deadlines ----------------------------------------------------------------------------------
    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, what)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, what: str) -> None:
        self._deadline = None
        if self.transport.is_closing() or self._phase != what:
            return
        limit = self.header_timeout if what == "headers" else self.body_timeout
        self.logger.warning("closing a connection: request %s not received within %g s", what, limit)
        if self.cycle is None or not self.cycle.response_started or what == "headers":
            self.transport.write(envelope_response(408, f"request {what} not received within {limit:g} s"))
        self.transport.close()

    def _await_headers(self) -> None:
        self._phase = "headers"
        self._header_bytes = 0
        self._arm(self.header_timeout, "headers")

    # protocol hooks -----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        counting = self._phase == "headers"
        super().data_received(data)
        if not counting or self.transport.is_closing() or self._phase != "headers":
            return
        self._header_bytes += len(data)  # still inside one header block
        if self._header_bytes > self.max_header_bytes:
            self._disarm()
            self.transport.write(
                envelope_response(
                    431, f"request line and headers are larger than the {self.max_header_bytes}-byte limit"
                )
            )
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._phase = "body"
        self._arm(self.body_timeout, "body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = None
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self._phase is None:
            self._await_headers()

    def send_400_response(self, msg: str) -> None:
        self._disarm()
        self.transport.write(envelope_response(400, "malformed HTTP request"))
        self.transport.close()


def protocol_for(settings: Settings) -> type[GuardedProtocol]:
    """The protocol class with this gateway's limits."""
    return type(
        "GatewayProtocol",
        (GuardedProtocol,),
        {
            "header_timeout": settings.header_timeout_seconds,
            "body_timeout": settings.body_timeout_seconds,
            "max_header_bytes": settings.max_header_bytes,
        },
    )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What ``serve`` hands ``uvicorn.run`` for the protocol limits."""
    return {
        "http": protocol_for(settings),
        "timeout_keep_alive": settings.keep_alive_timeout_seconds,
    }
