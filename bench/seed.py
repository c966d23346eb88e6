"""A gateway store with many tasks, written straight into its SQLite file.

Accounts are issued through the gateway's own ``create_account`` (so keys and sealed secrets are
real); tasks are bulk-inserted with SQLAlchemy Core after ``Database(url).migrate()``.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from kling_gateway.auth import mint_jwt
from kling_gateway.ids import new_numeric_id, now_ms
from kling_gateway.keys import IssuedKey, create_account
from kling_gateway.secrets_box import SecretBox, load_master_key
from kling_gateway.store import AccountStore, Database
from kling_gateway.store.tables import tasks

from .config import BenchConfig

DB_FILE = "gateway.sqlite3"
BATCH = 10_000
# (family, share of the main account's tasks); the list benchmark pages text2video
FAMILY_MIX = (("videos/text2video", 0.8), ("videos/image2video", 0.1), ("images/generations", 0.1))


@dataclass(frozen=True)
class Credentials:
    account_id: str
    api_key: str
    access_key: str
    secret_key: str

    @property
    def bearer(self) -> tuple[tuple[str, str], ...]:
        return (("Authorization", f"Bearer {self.api_key}"),)

    def jwt(self, ttl: int = 3600) -> tuple[tuple[str, str], ...]:
        return (("Authorization", f"Bearer {mint_jwt(self.access_key, self.secret_key, ttl=ttl)}"),)


@dataclass(frozen=True)
class SeededStore:
    data_dir: Path
    main: Credentials  # holds ``config.tasks`` tasks
    others: tuple[Credentials, ...]
    query_ids: tuple[str, ...]  # finished text2video tasks of ``main`` with a result
    total_tasks: int
    seed_seconds: float

    def copy(self, dest: Path) -> SeededStore:
        """A private copy (for benchmarks that write)."""
        shutil.copytree(self.data_dir, dest, ignore=shutil.ignore_patterns("*.log"))
        return SeededStore(dest, self.main, self.others, self.query_ids, self.total_tasks, self.seed_seconds)


def _url(data_dir: Path, driver: str = "sqlite+aiosqlite") -> str:
    return f"{driver}:///{(data_dir / DB_FILE).resolve()}"


async def _migrate_and_issue(data_dir: Path, count: int, url: str) -> list[IssuedKey]:
    db = Database(url)
    try:
        await db.migrate()
        box = SecretBox(load_master_key(data_dir))
        store = AccountStore(db)
        return [await create_account(store, box, f"bench-{n}") for n in range(count)]
    finally:
        await db.dispose()


def _request(family: str, n: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model_name": "kling-v2-6",
        "prompt": f"bench task {n}: a red fox running through snow",
    }
    if family.startswith("videos/"):
        body.update(duration="5", mode="std", aspect_ratio="16:9")
    if family == "videos/image2video":
        body["image"] = "https://example.com/bench/start.png"
    return body


def _result(family: str, task_id: str) -> dict[str, Any]:
    if family == "images/generations":
        return {"images": [{"index": 0, "url": f"storage:{task_id}/a1/image-0.png"}]}
    return {"videos": [{"id": new_numeric_id(), "url": f"storage:{task_id}/a1/video.mp4", "duration": "5.1"}]}


def _rows(account_id: str, count: int, start_ms: int, rng: random.Random) -> list[dict[str, Any]]:
    """``count`` tasks, oldest first, every 100 ms; 5 % failed, 10 % with an external id."""
    families = [name for name, share in FAMILY_MIX for _ in range(round(share * 100))]
    rows = []
    for n in range(count):
        family = families[n % len(families)]
        task_id = new_numeric_id()
        created = start_ms + n * 100
        failed = rng.random() < 0.05
        rows.append(
            {
                "id": task_id,
                "account_id": account_id,
                "family": family,
                "external_task_id": f"ext-{account_id}-{n}" if n % 10 == 3 else None,
                "status": "failed" if failed else "succeed",
                "status_msg": "bench: synthetic failure" if failed else "",
                "request": json.dumps(_request(family, n), separators=(",", ":")),
                "result": None if failed else json.dumps(_result(family, task_id), separators=(",", ":")),
                "info_extra": None,
                "final_unit_deduction": None if failed else "1",
                "callback_url": None,
                "engine": "reference",
                "upstream_task_id": None,
                "attempts": 1,
                "lease_owner": None,
                "lease_expires_at": None,
                "available_at": created,
                "created_at": created,
                "updated_at": created + 30_000,
                "finished_at": created + 30_000,
                "files_expired_at": None,
            }
        )
    return rows


def seed_store(data_dir: Path, config: BenchConfig, database_url: str | None = None) -> SeededStore:
    """``config``'s store in ``data_dir`` (keys, secrets), its database the SQLite file there or
    ``database_url`` (a ``postgresql+psycopg://`` one: the same rows, for the PostgreSQL query)."""
    import time

    started = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    issued = asyncio.run(
        _migrate_and_issue(data_dir, 1 + config.other_accounts, database_url or _url(data_dir))
    )
    creds = [Credentials(i.account_id, i.api_key, i.access_key, i.secret_key) for i in issued]
    rng = random.Random(7)
    # finished within retention (so the sweeper leaves their files alone), ending a minute ago
    start_ms = now_ms() - 60_000 - config.tasks * 100
    main_rows = _rows(creds[0].account_id, config.tasks, start_ms, rng)
    finished = [r["id"] for r in main_rows if r["family"] == "videos/text2video" and r["status"] == "succeed"]
    query_ids = tuple(rng.sample(finished, min(config.query_ids, len(finished))))
    engine = create_engine(database_url or _url(data_dir, "sqlite"))
    total = 0
    try:
        with engine.begin() as conn:
            batches = [main_rows] + [
                _rows(c.account_id, config.other_tasks, start_ms, rng) for c in creds[1:]
            ]
            for rows in batches:
                for offset in range(0, len(rows), BATCH):
                    conn.execute(tasks.insert(), rows[offset : offset + BATCH])
                total += len(rows)
    finally:
        engine.dispose()
    return SeededStore(data_dir, creds[0], tuple(creds[1:]), query_ids, total, time.perf_counter() - started)
