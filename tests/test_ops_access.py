"""``ops_access`` (issue #13 item 8): /metrics, /docs, /redoc, /openapi.json open, behind a key,
behind the admin token, or off; /push/stats never open to anonymous callers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from inprocess import in_process

ADMIN = {"Authorization": "Bearer operator-token-0123456789"}
DOCS_AND_METRICS = ("/metrics", "/docs", "/redoc", "/openapi.json")


def assert_error(resp: httpx.Response, status: int, code: int, says: str) -> None:
    body = resp.json()
    assert (resp.status_code, body["code"]) == (status, code), body
    assert says in body["message"] and body["request_id"], body


async def test_open_by_default_except_push_stats(tmp_path: Path) -> None:
    async with in_process(tmp_path) as gw:
        for path in DOCS_AND_METRICS:
            assert (await gw.http.get(path)).status_code == 200, path
        assert_error(await gw.http.get("/push/stats"), 401, 1001, "empty")
        account = await gw.account()
        assert (await gw.http.get("/push/stats", headers=account.bearer)).status_code == 200


async def test_account_level_needs_a_valid_key(tmp_path: Path) -> None:
    async with in_process(tmp_path, ops_access="account", admin_token=ADMIN["Authorization"][7:]) as gw:
        account = await gw.account()
        for path in DOCS_AND_METRICS:
            assert_error(await gw.http.get(path), 401, 1001, "empty")
            bad = await gw.http.get(path, headers={"Authorization": "Bearer kg-wrong"})
            assert_error(bad, 401, 1000, "API key")
            assert (await gw.http.get(path, headers=account.bearer)).status_code == 200, path
            assert (await gw.http.get(path, headers=ADMIN)).status_code == 200, path


async def test_admin_level_needs_the_admin_token(tmp_path: Path) -> None:
    async with in_process(tmp_path, ops_access="admin", admin_token=ADMIN["Authorization"][7:]) as gw:
        account = await gw.account()
        for path in (*DOCS_AND_METRICS, "/push/stats", "/docs-assets/swagger/swagger-ui.css"):
            assert_error(await gw.http.get(path), 401, 1001, "admin token")
            assert_error(await gw.http.get(path, headers=account.bearer), 403, 1103, "operator only")
            assert (await gw.http.get(path, headers=ADMIN)).status_code == 200, path


async def test_admin_level_without_a_token_refuses_everyone(tmp_path: Path) -> None:
    async with in_process(tmp_path, ops_access="admin") as gw:
        resp = await gw.http.get("/metrics", headers={"Authorization": "Bearer anything"})
        assert_error(resp, 403, 1103, "operator only")


@pytest.mark.parametrize("path", [*DOCS_AND_METRICS, "/push/stats"])
async def test_off_hides_them(tmp_path: Path, path: str) -> None:
    async with in_process(tmp_path, ops_access="off", admin_token="t" * 20) as gw:
        assert_error(
            await gw.http.get(path, headers={"Authorization": "Bearer " + "t" * 20}), 404, 1203, "off"
        )
        assert (await gw.http.get("/healthz")).status_code == 200  # health stays open for probes


async def test_a_store_failure_while_checking_a_key_is_a_5000_envelope(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The middleware sits outside FastAPI's server-error layer: an unexpected error in its own
    ops check is answered by the app's handler (Kling envelope, request id), not dropped."""
    async with in_process(tmp_path, ops_access="account") as gw:

        async def store_down(_authorization: str | None) -> None:
            raise OSError("database is unreachable")

        monkeypatch.setattr(gw.gateway.auth, "authenticate", store_down)
        resp = await gw.http.get("/metrics", headers={"Authorization": "Bearer kg-anything"})
        assert_error(resp, 500, 5000, "")
        assert resp.headers["x-request-id"] == resp.json()["request_id"]
