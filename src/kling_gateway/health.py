"""What ``/healthz`` reports: whether this process reaches its store and its result storage."""

from __future__ import annotations

import asyncio
import os

from sqlalchemy import text

from .storage import Storage
from .store import Database

PROBE_KEY = "healthz/probe"  # never written; a stat of it is a round trip to the storage
TIMEOUT_SECONDS = 2.0


async def check_database(db: Database) -> str | None:
    """None when a ``SELECT 1`` answers in time, else what went wrong."""
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            async with db.read.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except TimeoutError:
        return f"no answer within {TIMEOUT_SECONDS:g} s"
    except Exception as exc:  # any driver error means "not reachable"
        return f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}".rstrip(": ")
    return None


async def check_storage(storage: Storage) -> str | None:
    """None when the storage answers a lookup in time (and a local root is a writable dir)."""
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            await storage.stat(PROBE_KEY)
    except TimeoutError:
        return f"no answer within {TIMEOUT_SECONDS:g} s"
    except Exception as exc:
        return f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}".rstrip(": ")
    probe = storage.local_path(PROBE_KEY)
    if probe is not None:
        root = probe.parent.parent
        if not root.is_dir():
            return f"results directory {root} does not exist"
        if not os.access(root, os.W_OK | os.X_OK):
            return f"results directory {root} is not writable"
    return None
