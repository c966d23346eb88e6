"""Kling business error codes and the exception that carries them to the client.

Every error a client can cause is raised as :class:`KlingError` and rendered by the API
as ``{"code", "message", "request_id"}`` with the official HTTP status (spec §7.1).
"""

from __future__ import annotations

from enum import IntEnum


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


class KlingError(Exception):
    """An error answered to the client in the Kling envelope."""

    def __init__(self, code: int, message: str | None = None, *, headers: dict[str, str] | None = None):
        self.code = int(code)
        self.message = message or DEFAULT_MESSAGE.get(self.code, "error")
        self.headers = headers or {}
        super().__init__(f"{self.code}: {self.message}")

    @property
    def http_status(self) -> int:
        return http_status_for(self.code)


def invalid_parameter(message: str) -> KlingError:
    """Shortcut for the most common client error: 1201 with a message naming the field."""
    return KlingError(Code.INVALID_PARAMETER, message)


def not_found(message: str = "task not found") -> KlingError:
    return KlingError(Code.RESOURCE_NOT_FOUND, message)
