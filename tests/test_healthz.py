"""``/healthz`` reports the database and the result storage (issue #13 item 8): 200 when both
answer, 503 with code 5001 naming the part that does not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from inprocess import in_process
from kling_gateway.store import Database
from support import free_port


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_healthy_gateway_reports_both_parts(tmp_path: Path, backend: str) -> None:
    async with in_process(tmp_path, backend) as gw:
        resp = await gw.http.get("/healthz")
        assert resp.status_code == 200
        body = resp.json()
        assert body["status"] == "ok" and body["database"] == "ok" and body["storage"] == "ok"


async def test_unreachable_database_is_503(tmp_path: Path) -> None:
    async with in_process(tmp_path) as gw:
        working = gw.gateway.db
        gw.gateway.db = Database(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none")
        try:
            resp = await gw.http.get("/healthz")
        finally:
            await gw.gateway.db.dispose()
            gw.gateway.db = working
        assert resp.status_code == 503
        body = resp.json()
        assert body["code"] == 5001 and "database:" in body["message"] and body["request_id"]
        assert body["database"] != "ok" and body["storage"] == "ok"


async def test_missing_results_directory_is_503(tmp_path: Path) -> None:
    async with in_process(tmp_path) as gw:
        results = tmp_path / "results"
        shutil.rmtree(results)
        results.write_text("not a directory")
        resp = await gw.http.get("/healthz")
        assert resp.status_code == 503
        body = resp.json()
        assert body["code"] == 5001 and "storage:" in body["message"]
        assert body["database"] == "ok" and body["storage"] != "ok"
