"""kill -9 of the server under load loses no acknowledged task; after restart every one finishes."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from support import GatewayProcess, wait_for_task

pytestmark = pytest.mark.slow

T2A = "/v1/audio/text-to-audio"  # fast to render: the test is about the store, not the engine


def test_kill9_under_load_loses_nothing(backend, tmp_path):
    # short leases: tasks the killed process held are taken over seconds after the restart
    env = {"KLING_GATEWAY_LEASE_SECONDS": "4", "KLING_GATEWAY_RECONCILE_INTERVAL_SECONDS": "1"}
    server = GatewayProcess(tmp_path / "gw", database_url=backend, extra_env=env).start()
    account = server.create_account("durable")
    acknowledged: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=server.base_url, timeout=5) as client:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    r = client.post(T2A, json={"prompt": f"task {i}", "duration": 3}, headers=account.bearer)
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code == 200 and r.json()["code"] == 0:
                    acknowledged.append(r.json()["data"]["task_id"])

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill9()
    stop.set()
    for t in threads:
        t.join(10)
    assert len(acknowledged) >= 40

    restarted = GatewayProcess(server.data_dir, database_url=backend, port=server.port, extra_env=env).start()
    try:
        with httpx.Client(base_url=restarted.base_url, timeout=30) as client:
            for task_id in acknowledged:
                done = wait_for_task(client, T2A, task_id, account.bearer, timeout=240)
                assert done["task_status"] == "succeed", done
    finally:
        restarted.stop()
