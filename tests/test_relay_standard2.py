"""Relaying the new standard: a front gateway relays kling-3.0 text-to-video and omni-video to an
upstream kling-gateway (a real server on loopback speaking the new standard's wire format) over
a ``new_standard`` channel, with upstream callbacks on (signed, verified with the channel's
webhook secret) and off (batched ``GET /tasks?task_ids=`` polling). Results are mirrored into the
front's storage and decoded from the front's URLs."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from kling_gateway.engines.relay.callbacks import callback_url
from kling_gateway.media.probe import probe_av
from support import Account, GatewayProcess, b64, png_bytes

BODIES: dict[str, dict[str, Any]] = {
    "/text-to-video/kling-3.0": {"prompt": "a lantern at dusk", "settings": {"duration": 3}},
    "/omni-video/kling-3.0-omni": {
        "contents": [
            {"type": "prompt", "text": "@cat walks"},
            {"type": "refer_image", "url": b64(png_bytes(400, 400)), "id": "cat"},
        ],
        "settings": {"duration": 3, "aspect_ratio": "1:1"},
    },
}


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with GatewayProcess(
        tmp_path_factory.mktemp("upstream2"), extra_env={"KLING_GATEWAY_CALLBACK_POLL_SECONDS": "0.2"}
    ) as server:
        yield server


@pytest.fixture(scope="module")
def upstream_account(upstream: GatewayProcess) -> Account:
    return upstream.create_account("relay2")


@pytest.fixture(scope="module", params=["callbacks", "polling"])
def front(
    request: pytest.FixtureRequest,
    upstream: GatewayProcess,
    upstream_account: Account,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[GatewayProcess, Account, str, Path]]:
    data = tmp_path_factory.mktemp("front2")
    callbacks = request.param == "callbacks"
    slow = "max_interval = 30.0, initial = 10.0" if callbacks else "max_interval = 0.5, initial = 0.3"
    config = data / "relay.toml"
    config.write_text(
        f"""
[[channels]]
name = "up2"
type = "kling-compatible"
base_url = "{upstream.base_url}"
api_key_env = "RELAY2_KEY"
new_standard = true
webhook_secret_env = "RELAY2_WHSEC"
callbacks = {str(callbacks).lower()}
poll = {{ {slow}, factor = 0.2, callback_slowdown = 1.0 }}
timeout = 120
"""
    )
    server = GatewayProcess(
        data,
        extra_args=["--config", str(config)],
        extra_env={"RELAY2_KEY": upstream_account.api_key, "RELAY2_WHSEC": upstream_account.webhook_secret},
    ).start()
    try:
        yield server, server.create_account("client2"), request.param, data
    finally:
        server.stop()


def status_calls(front: GatewayProcess) -> dict[str, float]:
    text = httpx.get(front.base_url + "/metrics", timeout=10).text
    found = re.findall(r'kling_relay_status_calls_total\{channel="up2",kind="(\w+)"\} ([0-9.e+]+)', text)
    return {kind: float(value) for kind, value in found}


def run(front: GatewayProcess, account: Account, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with httpx.Client(base_url=front.base_url, timeout=30) as http:
        created = http.post(path, json=body, headers=account.bearer)
        assert created.status_code == 200, created.text
        task_id = created.json()["data"]["id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = http.get("/tasks", params={"task_ids": task_id}, headers=account.bearer).json()["data"]
            if found and found[0]["status"] in ("succeeded", "failed"):
                return found[0]  # type: ignore[no-any-return]
            time.sleep(0.2)
    raise AssertionError(f"{task_id} did not finish")


def test_new_standard_tasks_relayed_mirrored_and_tracked(
    front: tuple[GatewayProcess, Account, str, Path], upstream: GatewayProcess, upstream_account: Account
) -> None:
    server, account, mode, _ = front
    before = status_calls(server)
    jobs = [(path, body) for path, body in BODIES.items() for _ in range(2)]
    with ThreadPoolExecutor(len(jobs)) as pool:
        records = list(pool.map(lambda job: run(server, account, *job), jobs))
    for (path, _), record in zip(jobs, records, strict=True):
        assert record["status"] == "succeeded", record
        (output,) = record["outputs"]
        assert output["url"].startswith(server.base_url)  # mirrored into the front's storage
        info = probe_av(httpx.get(output["url"], timeout=30).content)
        assert abs(info.duration - 3.04) < 0.1 and info.fps == 24.0
        assert (info.width, info.height) == ((960, 960) if "omni" in path else (1280, 720))
        assert record["billing"] == [
            {"charge_type": "unit", "amount": "1.8", "package_type": "video"}
        ]  # 0.6 × 3
        # the upstream holds it as a new-standard task under the gateway's external id
        up = httpx.get(
            upstream.base_url + "/tasks",
            params={"external_task_ids": f"kg-{record['id']}"},
            headers=upstream_account.bearer,
            timeout=10,
        ).json()["data"]
        assert len(up) == 1 and up[0]["id"] != record["id"] and up[0]["status"] == "succeeded"
    calls = {k: v - before.get(k, 0.0) for k, v in status_calls(server).items()}
    assert calls.get("list", 0) == 0 and calls.get("single", 0) == 0  # only GET /tasks batches
    if mode == "callbacks":
        assert calls.get("batch", 0) <= 2 * len(jobs), calls
    else:
        assert calls.get("batch", 0) >= 1, calls


def test_an_unsigned_upstream_callback_is_refused(front: tuple[GatewayProcess, Account, str, Path]) -> None:
    server, account, _, data = front
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        created = http.post(
            "/text-to-video/kling-3.0",
            json={"prompt": "x", "settings": {"duration": 3}},
            headers=account.bearer,
        )
        task_id = created.json()["data"]["id"]
        url = callback_url(server.base_url, (data / "url-secret").read_text().strip(), task_id)
        forged = {"id": "1", "status": "failed", "message": "forged", "create_time": 1, "update_time": 2}
        headers = {
            "webhook-id": "x",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1,AAAA",
        }
        response = http.post(url, json={**forged, "outputs": [], "billing": []}, headers=headers)
        assert response.status_code == 401 and "signature" in response.json()["message"]
        deadline = time.monotonic() + 120
        while True:  # the forged "failed" changed nothing: the task still finishes upstream
            (record,) = http.get("/tasks", params={"task_ids": task_id}, headers=account.bearer).json()[
                "data"
            ]
            if record["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert record["status"] == "succeeded" and record["message"] == ""
