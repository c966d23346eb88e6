"""Kling business codes and the gateway's one exception hierarchy.

Every exception the gateway raises on purpose derives from :class:`GatewayError`, which carries
a ``message`` and the Kling ``code`` it is answered with should it reach a client.
:func:`kling_error` is the one mapping from any exception to the :class:`KlingError` the API
renders as ``{"code", "message", "request_id"}`` with the official HTTP status (spec §7.1).

The classes shared across layers live here (``media/``, ``engines/`` and ``jobs/`` all reach
them)::

    GatewayError
    ├── KlingError              answered to the client as is (code, message, headers)
    ├── TaskFailure             a task fails for a reason the client reads (1201 if it reaches the API)
    │   └── ServerFailure       … for a reason that is not the client's doing (5001)
    ├── TransientEngineError    retry the task later
    ├── RescheduleTask          not an error: run the task again after a delay
    ├── FetchError              an input could not be had (1201)
    ├── UnsafeURLError          a URL refused by the outgoing-request policy
    └── TransferError           an outgoing HTTP exchange failed

Module-local ones derive from it where they are raised: ``store.tasks.DuplicateExternalId``,
``storage.signing.SignatureError``, ``storage.serve.RangeNotSatisfiable``,
``engines.relay.channels.ChannelConfigError`` and ``engines.relay.upstream.UpstreamError``
(``Rejected``, ``Busy``, ``ChannelDown``, ``NotFound``). The client SDK (``kling_gateway.client``)
is a separate library with its own base, ``KlingClientError``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class Code(IntEnum):
    """Official Kling business codes (spec §7.1)."""

    SUCCESS = 0
    AUTH_FAILED = 1000
    AUTH_HEADER_EMPTY = 1001
    AUTH_INVALID = 1002
    AUTH_NOT_YET_VALID = 1003
    AUTH_EXPIRED = 1004
    ACCOUNT_EXCEPTION = 1100
    ACCOUNT_ARREARS = 1101
    ACCOUNT_PACK_EXHAUSTED = 1102
    ACCOUNT_NO_PERMISSION = 1103
    INVALID_REQUEST = 1200
    INVALID_PARAMETER = 1201
    INVALID_METHOD = 1202
    RESOURCE_NOT_FOUND = 1203
    POLICY = 1300
    CONTENT_SAFETY = 1301
    TOO_FAST = 1302
    CONCURRENCY_LIMIT = 1303
    IP_WHITELIST = 1304
    INTERNAL = 5000
    UNAVAILABLE = 5001
    TIMEOUT = 5002


HTTP_STATUS: dict[int, int] = {
    0: 200,
    1000: 401,
    1001: 401,
    1002: 401,
    1003: 401,
    1004: 401,
    1100: 429,
    1101: 429,
    1102: 429,
    1103: 403,
    1200: 400,
    1201: 400,
    1202: 404,
    1203: 404,
    1300: 400,
    1301: 400,
    1302: 429,
    1303: 429,
    1304: 429,
    5000: 500,
    5001: 503,
    5002: 504,
}

DEFAULT_MESSAGE: dict[int, str] = {
    1000: "authentication failed",
    1001: "Authorization header is empty",
    1002: "Authorization value is invalid",
    1003: "token is not yet valid",
    1004: "token has expired",
    1100: "account exception",
    1101: "account in arrears",
    1102: "resource pack exhausted or expired",
    1103: "no permission for the requested resource",
    1200: "invalid request",
    1201: "invalid parameter",
    1202: "invalid request method",
    1203: "requested resource does not exist",
    1300: "platform policy triggered",
    1301: "content safety policy triggered",
    1302: "requests too fast",
    1303: "parallel task over resource pack limit",
    1304: "IP whitelist policy triggered",
    5000: "internal server error",
    5001: "service temporarily unavailable",
    5002: "server timeout",
}


def http_status_for(code: int) -> int:
    """HTTP status the official API uses for a business code (500 for unknown codes)."""
    return HTTP_STATUS.get(int(code), 500)


class GatewayError(Exception):
    """Base of every exception the gateway raises on purpose.

    ``code`` is the Kling code the error is answered with if it reaches a client; the default,
    5000, means "not the client's doing" (the message is then not shown, see :func:`kling_error`).
    """

    code: int = Code.INTERNAL

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class KlingError(GatewayError):
    """An error answered to the client in the Kling envelope."""

    def __init__(
        self,
        code: int,
        message: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        status: int | None = None,
    ):
        """``status`` overrides the code's HTTP status where HTTP has a more precise one (413, 409,
        408, 431) and the business code is still the official one (1200, 1201)."""
        self.code = int(code)
        self._status = status
        self.headers = headers or {}
        super().__init__(message or DEFAULT_MESSAGE.get(self.code, "error"))

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    @property
    def http_status(self) -> int:
        return self._status or http_status_for(self.code)


class TaskFailure(GatewayError):
    """The task failed for a reason the client should read in ``task_status_msg``.

    Raised by engines (and media checks) for input problems found while running (unreachable
    URL, image too small, video too long...). Not retried. Met while validating a create
    request, it is answered as 1201 with the same message.
    """

    code = Code.INVALID_PARAMETER


class ServerFailure(TaskFailure):
    """The task failed, not retried, for a reason that is not the client's doing: no speech
    synthesiser on the host, an upstream answer the gateway cannot use.

    A worker fails the task like for any :class:`TaskFailure`; a synchronous call answers it
    5001 and keeps the failed task (a client-caused :class:`TaskFailure` leaves nothing there).
    """

    code = Code.UNAVAILABLE


def client_caused(exc: BaseException) -> bool:
    """Whether an error is the client's doing: answered with a 4xx status (1xxx codes)."""
    return isinstance(exc, GatewayError) and http_status_for(exc.code) < 500


class TransientEngineError(GatewayError):
    """A failure worth retrying later (an upstream hiccup); the worker re-queues the task."""

    code = Code.UNAVAILABLE

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class RescheduleTask(GatewayError):
    """Not done yet; run this task again after ``delay`` seconds (a relay waiting on its upstream).

    The worker gives the lease back without counting an attempt. ``fields`` are task columns
    to store meanwhile (``engine``, ``upstream_task_id``).
    """

    def __init__(self, delay: float, **fields: Any):
        super().__init__(f"reschedule in {delay}s")
        self.delay = delay
        self.fields = fields


class FetchError(GatewayError, ValueError):
    """An input could not be had; the message names the field and the problem.

    ``retryable`` is true for failures that may pass later (timeouts, unreachable hosts, 5xx).
    """

    code = Code.INVALID_PARAMETER

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class UnsafeURLError(GatewayError, ValueError):
    """The URL is refused by policy (scheme, or a host that is not a public address)."""

    code = Code.INVALID_PARAMETER


class TransferError(GatewayError):
    """An outgoing HTTP exchange failed: unreachable host, HTTP error status, timeout, or too
    large a body.

    ``status`` is the remote HTTP status when there was one; ``retryable`` says whether trying
    again later may help (timeouts, connection failures, 408/429/5xx).
    """

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


def kling_error(exc: BaseException, request_id: str | None = None) -> KlingError:
    """How any exception is answered to a client, in one place.

    A :class:`KlingError` as it is; another :class:`GatewayError` with its class's code and its
    message; anything else (and a gateway error with code 5000) as 5000 without internals, naming
    the request id so the operator can find the log line.
    """
    if isinstance(exc, KlingError):
        return exc
    if isinstance(exc, GatewayError) and exc.code != Code.INTERNAL:
        return KlingError(exc.code, exc.message)
    suffix = f" (request {request_id})" if request_id else ""
    return KlingError(Code.INTERNAL, f"internal server error{suffix}")


def invalid_parameter(message: str) -> KlingError:
    """Shortcut for the most common client error: 1201 with a message naming the field."""
    return KlingError(Code.INVALID_PARAMETER, message)


def not_found(message: str = "task not found") -> KlingError:
    return KlingError(Code.RESOURCE_NOT_FOUND, message)
