"""``GET /admin/v1/channels`` against a real gateway relaying to real fake Kling upstreams
(``test_relay_faults.FakeUpstream``): failures upstream open the primary's circuit and the
endpoint shows it open, with the failovers counted by reason and the tasks in flight upstream;
only the admin token reads it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inprocess import running_gateway
from support import GatewayProcess, wait_for_task
from test_relay_faults import PATH, FakeUpstream, channel, create

ADMIN = "channels-admin-token"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture()
def upstreams() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    primary, backup = FakeUpstream(mode="down").start(), FakeUpstream().start()
    try:
        yield primary, backup
    finally:
        primary.stop()
        backup.stop()


def channels(http: httpx.Client) -> dict[str, dict]:
    r = http.get("/admin/v1/channels", headers=ADMIN_HEADERS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["code"] == 0 and body["request_id"]
    return {c["name"]: c for c in body["data"]["channels"]}


def test_failures_upstream_open_the_circuit_and_the_endpoint_shows_it(
    upstreams: tuple[FakeUpstream, FakeUpstream], tmp_path: Path
) -> None:
    primary, backup = upstreams
    config = tmp_path / "relay.toml"
    config.write_text(
        "[gateway]\nsweep_interval_seconds = 1\ntask_timeout_seconds = 30\npoll_interval_seconds = 0.2\n"
        + channel("primary", primary, priority=10, breaker_threshold=2, breaker_cooldown=600)
        + channel("backup", backup, priority=0)
    )
    env = {"KLING_GATEWAY_ADMIN_TOKEN": ADMIN}
    with GatewayProcess(tmp_path, extra_env=env, extra_args=["--config", str(config)]) as front:
        account = front.create_account("client")
        with httpx.Client(base_url=front.base_url, timeout=30) as http:
            before = channels(http)
            assert [before["primary"]["circuit"], before["backup"]["circuit"]] == ["closed", "closed"]
            assert before["primary"]["failovers_total"] == 0 and before["primary"]["in_flight"] == 0
            for n in range(3):  # two meet the 500s and open the breaker; the third skips it
                tid = create(http, account, f"round {n}")
                assert wait_for_task(http, PATH, tid, account.bearer, timeout=30)["task_status"] == "succeed"
            after = channels(http)
            p, b = after["primary"], after["backup"]
            assert p["circuit"] == "open" and p["consecutive_failures"] == 2 == p["breaker_threshold"]
            assert p["failovers"] == {"breaker": 1, "full": 0, "busy": 0, "down": 2}, p
            assert p["available_in_seconds"] > 500  # the configured cool-down, still running
            assert b["circuit"] == "closed" and b["failovers_total"] == 0
            assert not primary.tasks and backup.create_calls == 3  # what the upstreams saw
            assert [
                c["name"]
                for c in http.get("/admin/v1/channels", headers=ADMIN_HEADERS).json()["data"]["channels"]
            ] == [
                "primary",
                "backup",
            ]  # priority order

            held = create(http, account, "a [never] prompt")  # stays processing on the backup
            deadline = time.monotonic() + 20
            while channels(http)["backup"]["in_flight"] != 1:
                assert time.monotonic() < deadline, channels(http)
                time.sleep(0.1)
            assert wait_for_task(http, PATH, held, account.bearer, timeout=30)["task_status"] == "failed"
            assert channels(http)["backup"]["in_flight"] == 0  # its slot is free once it ended

            # an account key is no operator: refused in the envelope, learns nothing
            for headers, status, code in ((account.bearer, 401, 1000), ({}, 401, 1001)):
                r = http.get("/admin/v1/channels", headers=headers)
                body = r.json()
                assert r.status_code == status and body["code"] == code and body["request_id"], body
                assert "data" not in body and "primary" not in r.text


async def test_no_channels_and_no_admin_token(tmp_path: Path) -> None:
    async with running_gateway(tmp_path / "with", admin_token=ADMIN) as gw:
        r = await gw.client.get("/admin/v1/channels", headers=ADMIN_HEADERS)
        assert r.status_code == 200 and r.json()["data"] == {"channels": []}  # the reference engine only
        doc = (await gw.client.get("/openapi.json")).json()
        assert "admin" in doc["paths"]["/admin/v1/channels"]["get"]["tags"]
    async with running_gateway(tmp_path / "without") as gw:
        r = await gw.client.get("/admin/v1/channels", headers=ADMIN_HEADERS)
        assert r.status_code == 403 and r.json()["code"] == 1103, r.text
