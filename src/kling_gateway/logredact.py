"""Secrets never reach the access log: signed-URL signatures, tokens and keys in a query string
are replaced by ``REDACTED`` before uvicorn's access line is formatted.

The gateway puts credentials only in headers (never logged) and signatures in ``/files`` query
strings; clients sometimes put keys in query strings too (``?api_key=``), so those are covered."""

from __future__ import annotations

import logging
import re

SECRET_PARAMS = (
    "signature",
    "sig",
    "token",
    "access_token",
    "api_key",
    "apikey",
    "key",
    "secret",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
)
_NAMES = "|".join(re.escape(p) for p in SECRET_PARAMS)
_PATTERN = re.compile(r"(?i)([?&](?:" + _NAMES + r")=)[^&#\s]*")


def redact(text: str) -> str:
    """``text`` (a path with query, a URL) with secret query values replaced."""
    return _PATTERN.sub(r"\1REDACTED", text)


class RedactFilter(logging.Filter):
    """For ``uvicorn.access``: its args are (client, method, path?query, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install(logger_name: str = "uvicorn.access") -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactFilter) for f in logger.filters):
        logger.addFilter(RedactFilter())
