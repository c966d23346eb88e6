"""HTTP/1.1 protocol limits uvicorn does not have: a header deadline, a body deadline, and 431.

uvicorn's h11 protocol only has an idle keep-alive timeout, which any byte resets, so a client
sending one header byte every few seconds (slowloris) holds a connection forever. Here:

* the request line and headers must arrive within ``header_timeout_seconds`` of the connection
  opening (or of the previous response), else 408;
* the body must arrive within ``body_timeout_seconds`` of the headers, else 408;
* a request line + header block above ``max_header_bytes`` is 431 (h11's own hint), not 400.

Every such answer is the Kling envelope (code 1200) and closes the connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

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


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the deadlines above; configure with :func:`protocol_for`."""

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    max_header_bytes: int = 16 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._what = "headers"
        self._error_hint = 400
        next_event = self.conn.next_event

        def remember_hint() -> Any:
            try:
                return next_event()
            except h11.RemoteProtocolError as exc:
                self._error_hint = exc.error_status_hint
                raise

        self.conn.next_event = remember_hint  # type: ignore[method-assign]

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
        if self.transport.is_closing():
            return
        waiting_headers = what == "headers" and self.conn.their_state is h11.IDLE
        waiting_body = what == "body" and self.conn.their_state is h11.SEND_BODY
        if not (waiting_headers or waiting_body):
            return
        limit = self.header_timeout if waiting_headers else self.body_timeout
        self.logger.warning("closing a connection: request %s not received within %g s", what, limit)
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(envelope_response(408, f"request {what} not received within {limit:g} s"))
        self.transport.close()

    def _track(self) -> None:
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if self._deadline is None or self._what != "body":
                self._what = "body"
                self._arm(self.body_timeout, "body")
        elif state is not h11.IDLE:
            self._disarm()

    # protocol hooks -----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._what = "headers"
        self._arm(self.header_timeout, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if not self.transport.is_closing():
            self._track()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._what = "headers"
            self._arm(self.header_timeout, "headers")

    def send_400_response(self, msg: str) -> None:
        if self._error_hint == 431:
            status, text = (
                431,
                f"request line and headers are larger than the {self.max_header_bytes}-byte limit",
            )
        else:
            status, text = 400, "malformed HTTP request"
        self.transport.write(envelope_response(status, text))
        self.transport.close()


def protocol_for(settings: Settings) -> type[GuardedH11Protocol]:
    """The protocol class with this gateway's limits."""
    return type(
        "GatewayH11Protocol",
        (GuardedH11Protocol,),
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
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "timeout_keep_alive": settings.keep_alive_timeout_seconds,
    }
