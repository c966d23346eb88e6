"""``Idempotency-Key`` on creates: a client that retries after a timeout gets the task of its
first request, not a second paid one.

Per account and key, for ``idempotency_ttl_seconds`` (24 h): the same key with the same body (and
route) answers the first request's task, marked ``Idempotent-Replayed: true``; the same key with a
different body is 409 / code 1201. The key is reserved before the task is created, so concurrent
retries create one task; a first request that fails releases its key (nothing stored)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from .errors import Code, KlingError, invalid_parameter, not_found
from .ids import now_ms
from .service import TaskService
from .store import AccountRow, TaskRow, TaskStore
from .store.idempotency import IdempotencyStore

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
WAIT_FOR_FIRST_SECONDS = 10.0  # a replay that overtakes the first request waits for its task


def request_hash(family: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{family}\n{canonical}".encode()).hexdigest()


def check_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(0x21 <= ord(c) <= 0x7E for c in key):
        raise invalid_parameter(f"{HEADER}: must be 1–{MAX_KEY_LENGTH} visible ASCII characters (no spaces)")
    return key


class IdempotentCreates:
    def __init__(self, keys: IdempotencyStore, service: TaskService, tasks: TaskStore, ttl_seconds: float):
        self.keys = keys
        self.service = service
        self.tasks = tasks
        self.ttl_ms = int(ttl_seconds * 1000)

    async def create(
        self, account: AccountRow, family: str, body: Any, key: str | None
    ) -> tuple[TaskRow, bool]:
        """The created (or, for a repeated key, the original) task, and whether it is a replay."""
        if key is None:
            return await self.service.create(account, family, body), False
        key = check_key(key.strip())
        digest = request_hash(family, body)
        for _ in range(3):  # a reservation lost to a first request that then failed: try again
            now = now_ms()
            record = await self.keys.get(account.id, key)
            if record is not None and record.created_at < now - self.ttl_ms:
                await self.keys.release(account.id, key, older_than=now - self.ttl_ms)
                record = None
            if record is None:
                if await self.keys.reserve(account.id, key, digest, now):
                    return await self._create_reserved(account, family, body, key), False
                continue
            if record.request_hash != digest:
                raise KlingError(
                    Code.INVALID_PARAMETER,
                    f"{HEADER} '{key}' was already used with a different request; use a new key "
                    "for a new request",
                    status=409,
                )
            task_id = record.task_id or await self._wait_for_first(account.id, key)
            if task_id is None:
                continue
            row = await self.tasks.get(task_id)
            if row is None:
                raise not_found(f"the task created with {HEADER} '{key}' no longer exists")
            return row, True
        raise KlingError(
            Code.INVALID_PARAMETER, f"{HEADER} '{key}' is in use by a request still running", status=409
        )

    async def _create_reserved(self, account: AccountRow, family: str, body: Any, key: str) -> TaskRow:
        try:
            row = await self.service.create(account, family, body)
        except BaseException:
            await self.keys.release(account.id, key)  # a refused request leaves nothing behind
            raise
        await self.keys.complete(account.id, key, row.id)
        return row

    async def _wait_for_first(self, account_id: str, key: str) -> str | None:
        """The task id the first request stores, or None when it failed (its key is released)."""
        deadline = asyncio.get_running_loop().time() + WAIT_FOR_FIRST_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            record = await self.keys.get(account_id, key)
            if record is None:
                return None
            if record.task_id is not None:
                return record.task_id
            await asyncio.sleep(0.05)
        raise KlingError(
            Code.INVALID_PARAMETER, f"{HEADER} '{key}' is in use by a request still running", status=409
        )
