"""Where a gateway's data lives, said in words, and whether a store is already there.

Used by the start banner, by read-only commands (which must not create a store as a side effect)
and by ``doctor``.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from .config import Settings


def shown_url(url: str) -> str:
    """A database URL fit to print: the password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is printed without its userinfo
        return url.split("@")[-1]


def sqlite_file(settings: Settings) -> Path | None:
    url = settings.resolved_database_url
    if not url.startswith("sqlite") or "///" not in url:
        return None
    return Path(url.split("///", 1)[1])


def describe(settings: Settings) -> str:
    """One line per fact: the data dir and the database."""
    data_dir = settings.data_dir.resolve()
    return f"  data dir : {data_dir}\n  database : {shown_url(settings.resolved_database_url)}"


async def store_exists(settings: Settings) -> bool:
    """Is there a migrated store (an ``accounts`` table) at the configured database?"""
    sqlite = sqlite_file(settings)
    if sqlite is not None and not sqlite.exists():
        return False  # checked without opening it: opening would create the file
    engine = create_async_engine(settings.resolved_database_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda c: inspect(c).has_table("accounts"))
    finally:
        await engine.dispose()


def missing_store_message(settings: Settings, command: str) -> str:
    where = sqlite_file(settings)
    what = f"no store at {where}" if where is not None else "the database has no gateway tables"
    return (
        f"error: {what} (data dir {settings.data_dir.resolve()}, database "
        f"{shown_url(settings.resolved_database_url)}).\n"
        f"'{command}' only reads, so it creates nothing. Run it where you ran 'kling-gateway serve', "
        "or point it at that store with --data-dir / KLING_GATEWAY_DATA_DIR (or --database-url, --config)."
    )
