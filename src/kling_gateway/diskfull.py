"""Recognising "the disk is full" in whatever shape it arrives: ``OSError`` ENOSPC/EDQUOT from a
file write, SQLite's ``SQLITE_FULL`` ("database or disk is full"), PostgreSQL's ``53100``
(disk_full). The API answers those 503 / code 5001 (retry later), not 500: the request was
fine, the server is out of room. Writes are transactional or atomic, so nothing half-written
remains (a rolled-back row, a removed temporary file)."""

from __future__ import annotations

import errno

from .errors import Code, KlingError

_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_MESSAGES = ("database or disk is full", "no space left on device", "could not extend file")


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` or anything in its cause/context chain is a full-disk error (SQLite may
    roll the whole transaction back on SQLITE_FULL, so the error seen last can be a failed
    savepoint rollback raised while handling it)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:  # every link: a driver's error (.orig), and what it was raised from or during
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _ERRNOS:
            return True
        if getattr(current, "sqlstate", None) == "53100":  # psycopg DiskFull
            return True
        text = str(current).lower()
        if any(m in text for m in _MESSAGES):
            return True
        for link in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(link, BaseException):
                pending.append(link)
    return False


def disk_full_error() -> KlingError:
    return KlingError(Code.UNAVAILABLE, "the gateway's storage is full; nothing was saved, retry later")
