"""A full disk (issue #13 item 8) is 503 / code 5001 in the envelope, and nothing is half-written.

The store really runs out of room: SQLite's ``max_page_count`` caps the file at its current size,
which fails the next growing write with SQLITE_FULL exactly as a full disk does."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from inprocess import in_process
from kling_gateway.diskfull import is_disk_full

T2V = "/v1/videos/text2video"


async def test_store_full_is_503_and_stores_nothing(tmp_path: Path) -> None:
    async with in_process(tmp_path) as gw:
        account = await gw.account()
        async with gw.gateway.db.write.connect() as conn:  # the process's one writer connection
            pages = (await conn.exec_driver_sql("PRAGMA page_count")).scalar_one()
            await conn.exec_driver_sql(f"PRAGMA max_page_count = {pages}")
        body = {"prompt": "p" * 2400}
        for _ in range(50):  # free space in existing pages is used up first
            before = await gw.task_count(account)
            resp = await gw.http.post(T2V, json=body, headers=account.bearer)
            if resp.status_code != 200:
                break
        else:
            pytest.fail("the capped store never filled up")
        envelope = resp.json()
        assert resp.status_code == 503 and envelope["code"] == 5001, envelope
        assert "storage is full" in envelope["message"] and envelope["request_id"]
        assert await gw.task_count(account) == before  # the refused create left no row
        assert (await gw.http.get(T2V, headers=account.bearer)).status_code == 200  # reads still work


def test_a_real_enospc_is_recognised() -> None:
    with pytest.raises(OSError) as err, open("/dev/full", "wb", buffering=0) as fh:
        fh.write(b"x")
    assert err.value.errno == errno.ENOSPC and is_disk_full(err.value)
    wrapped = RuntimeError("render failed")
    wrapped.__cause__ = err.value
    assert is_disk_full(wrapped)
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
