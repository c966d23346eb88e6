"""Chaos: 2 API replicas and 3 workers on one PostgreSQL database (procrastinate backend), workers
SIGKILLed mid-render and mid-relay; every task still ends exactly once with a result that never
changes.

Layout: API replicas A1, A2 (``serve --no-workers``); workers W1 (``render``), W2 (``render,relay``),
W3 (``relay``); a second gateway is the relay upstream for ``images/generations`` (so relayed tasks
are polled by the relay queue), audio and short videos render locally. All processes share one data
directory (master key, URL secret) and one results directory.

``KLING_CHAOS_TASKS`` sets the number of tasks (default 150 keeps the test near two minutes on two
cores; 500 runs by hand, see docs/deploy.md). The fallback claim loop is set to 120 s, so every
task a killed worker held must come back through the reconciler → re-deferred job path.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from kling_gateway.push.pgbridge import libpq_url
from scaleout_support import WorkerProcess, require_procrastinate
from support import Account, GatewayProcess, PostgresDatabase, postgres_available, require_service

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TASKS = int(os.environ.get("KLING_CHAOS_TASKS", "150"))
LEASE_S = 5.0
TERMINAL = ("succeed", "failed")


def _mix(index: int) -> tuple[str, dict]:
    """Mostly audio and (relayed) images, every tenth a short video."""
    if index % 10 == 9:
        return "videos/text2video", {"prompt": f"chaos clip {index}", "duration": "5"}
    if index % 10 in (1, 4, 7):
        return "images/generations", {"prompt": f"chaos image {index}", "aspect_ratio": "1:1"}
    return "audio/text-to-audio", {"prompt": f"chaos tone {index}", "duration": 3}


class Cluster:
    def __init__(
        self, root: Path, database: PostgresDatabase, upstream: GatewayProcess, upstream_account: Account
    ):
        self.root = root
        self.database = database
        self.data = root / "shared"
        self.data.mkdir()
        self.results = root / "results"
        config = root / "gateway.toml"
        config.write_text(f"""[gateway]

[[channels]]
name = "up"
type = "kling"
base_url = "{upstream.base_url}"
access_key = "{upstream_account.access_key}"
secret_key = "{upstream_account.secret_key}"
families = ["images/generations"]
callbacks = false
poll = {{ initial = 0.3, factor = 0.2, max_interval = 1.0 }}
timeout = 600
""")
        self.config = config
        self.env = {
            "KLING_GATEWAY_JOB_BACKEND": "procrastinate",
            "KLING_GATEWAY_LEASE_SECONDS": str(LEASE_S),
            "KLING_GATEWAY_RECONCILE_INTERVAL_SECONDS": "1",
            "KLING_GATEWAY_JOB_FALLBACK_SECONDS": "120",
            "KLING_GATEWAY_MAX_ATTEMPTS": "5",
            "KLING_GATEWAY_ENGINE_PROCESSES": "1",
            "KLING_GATEWAY_STORAGE_URL": str(self.results),
            "KLING_GATEWAY_URL_SECRET": "chaos",
            "KLING_GATEWAY_DB_POOL_SIZE": "5",
            "KLING_GATEWAY_DB_MAX_OVERFLOW": "5",
        }
        self.apis = [
            GatewayProcess(
                self.data,
                database_url=database.url,
                extra_env=self.env,
                extra_args=["--no-workers", "--config", str(config)],
            )
            for _ in range(2)
        ]
        self.workers = [
            WorkerProcess(
                self.data, database.url, self.env, queues=q, concurrency=2, config=config, name=f"w{i + 1}"
            )
            for i, q in enumerate(["render", "render,relay", "relay"])
        ]

    def start(self) -> None:
        self.apis[0].start()  # the first one applies migrations and the procrastinate schema
        self.apis[1].start()
        for worker in self.workers:
            worker.start()

    def stop(self) -> None:
        for proc in [*self.workers, *self.apis]:
            proc.stop()

    def query(self, sql: str, *params: object) -> list[tuple]:
        with psycopg.connect(libpq_url(self.database.url)) as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def held_by(self, worker: WorkerProcess, relay: bool | None = None) -> list[str]:
        """Active tasks whose lease this worker's process holds now."""
        assert worker.proc is not None
        engine = (
            "" if relay is None else ("AND engine <> 'reference'" if relay else "AND engine = 'reference'")
        )
        return [
            r[0]
            for r in self.query(
                f"SELECT id FROM tasks WHERE status IN ('submitted','processing') AND lease_owner LIKE %s {engine}",
                f"%:{worker.proc.pid}:%",
            )
        ]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_service(postgres_available(), "PostgreSQL is not reachable on 127.0.0.1:5432")
    require_procrastinate()
    database = PostgresDatabase()
    upstream = GatewayProcess(
        tmp_path_factory.mktemp("upstream"), extra_env={"KLING_GATEWAY_ENGINE_PROCESSES": "1"}
    ).start()
    made = Cluster(tmp_path_factory.mktemp("chaos"), database, upstream, upstream.create_account("relay"))
    try:
        made.start()
        yield made
    finally:
        made.stop()
        upstream.stop()
        database.drop()


async def _submit(cluster: Cluster, account: Account) -> dict[str, str]:
    """Create every task, alternating API replicas; returns task id → family."""
    sem = asyncio.Semaphore(12)
    created: dict[str, str] = {}

    async def one(client: httpx.AsyncClient, index: int) -> None:
        family, body = _mix(index)
        async with sem:
            response = await client.post(f"/v1/{family}", json=body, headers=account.bearer)
        assert response.status_code == 200, response.text
        created[response.json()["data"]["task_id"]] = family

    async with (
        httpx.AsyncClient(base_url=cluster.apis[0].base_url, timeout=60) as a1,
        httpx.AsyncClient(base_url=cluster.apis[1].base_url, timeout=60) as a2,
    ):
        await asyncio.gather(*[one((a1, a2)[i % 2], i) for i in range(TASKS)])
    return created


def _wait_until(predicate, timeout: float, step: float = 0.02) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def _kill_holding(cluster: Cluster, worker: WorkerProcess, relay: bool) -> tuple[float, list[str], bool]:
    """SIGKILL ``worker`` the moment it holds a lease of the wanted kind (or after 30 s anyway)."""
    held: list[str] = []

    def holding() -> bool:
        held[:] = cluster.held_by(worker, relay)
        return bool(held)

    caught = _wait_until(holding, 30)
    worker.kill9()
    return time.monotonic(), list(held), caught


def _storage_refs(result: str | None) -> list[str]:
    return re.findall(r'"storage:([^"]+)"', result or "")


def test_chaos_every_task_ends_exactly_once(cluster: Cluster) -> None:
    account = cluster.apis[0].create_account("chaos")
    started = time.monotonic()
    created = asyncio.run(_submit(cluster, account))
    assert len(created) == TASKS
    w1, w2, w3 = cluster.workers

    mid_render = _kill_holding(cluster, w1, relay=False)
    mid_relay = _kill_holding(cluster, w3, relay=True)
    print(
        f"\nchaos: {TASKS} tasks; killed w1 mid-render holding {len(mid_render[1])} "
        f"(caught={mid_render[2]}), w3 mid-relay holding {len(mid_relay[1])} (caught={mid_relay[2]})"
    )
    assert mid_render[2], "w1 never held a render task"

    first_seen: dict[str, tuple[str, str | None]] = {}  # the first terminal state observed per task
    finished_at: dict[str, float] = {}

    def all_terminal() -> bool:
        rows = cluster.query("SELECT id, status, result FROM tasks WHERE status IN ('succeed','failed')")
        for task_id, status, result in rows:
            if task_id not in first_seen:
                first_seen[task_id] = (status, result)
                finished_at[task_id] = time.monotonic()
        return len(first_seen) >= TASKS

    assert _wait_until(all_terminal, 240, step=0.25), (
        f"{TASKS - len(first_seen)} tasks not terminal; worker 2 log:\n{w2.log()[-3000:]}"
    )
    total = time.monotonic() - started

    # exactly one terminal event per task, and the stored outcome never changed
    events = Counter(
        r[0] for r in cluster.query("SELECT task_id FROM task_events WHERE status IN ('succeed','failed')")
    )
    assert set(events) == set(created) and set(events.values()) == {1}, events.most_common(3)
    final = {r[0]: (r[1], r[2]) for r in cluster.query("SELECT id, status, result FROM tasks")}
    assert all(final[t] == first_seen[t] for t in created)
    statuses = Counter(status for status, _ in final.values())
    failed = {t: m for t, m in cluster.query("SELECT id, status_msg FROM tasks WHERE status = 'failed'")}
    assert statuses["succeed"] == TASKS, failed

    # results: every reference exists, all in one attempt's prefix; files of lost attempts unreferenced
    orphans = 0
    for task_id, (_, result) in final.items():
        refs = _storage_refs(result)
        assert refs and all((cluster.results / ref).is_file() for ref in refs), (task_id, result)
        attempts = {ref.split("/")[1] for ref in refs}
        assert len(attempts) == 1, refs
        task_dir = cluster.results / task_id
        orphans += sum(1 for d in task_dir.iterdir() if d.name not in attempts) if task_dir.is_dir() else 0

    # the killed workers' tasks were taken over (lease expiry → reconciler → new job)
    recovery = {}
    for name, (killed_at, held, _) in (("mid-render", mid_render), ("mid-relay", mid_relay)):
        if held:
            recovery[name] = max(finished_at[t] for t in held) - killed_at
            attempts = dict(cluster.query("SELECT id, attempts FROM tasks WHERE id = ANY(%s)", held))
            assert all(attempts[t] >= 2 for t in held if name == "mid-render"), attempts
    stale_jobs = cluster.query("SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'")[0][0]
    relayed = sum(1 for f in created.values() if f == "images/generations")
    report = {
        "tasks": TASKS,
        "relayed": relayed,
        "seconds_total": round(total, 1),
        "tasks_per_minute": round(TASKS / total * 60, 1),
        "recovery_seconds": {k: round(v, 1) for k, v in recovery.items()},
        "held_at_kill": {"mid-render": len(mid_render[1]), "mid-relay": len(mid_relay[1])},
        "orphaned_attempt_dirs": orphans,
        "stale_doing_jobs_of_killed_workers": stale_jobs,
        "lease_seconds": LEASE_S,
    }
    print("chaos report:", json.dumps(report))
    (cluster.root / "chaos-report.json").write_text(json.dumps(report, indent=2))

    # the API replicas still answer for every task, with a decodable URL
    with httpx.Client(base_url=cluster.apis[1].base_url, timeout=30) as http:
        some = next(t for t, f in created.items() if f == "audio/text-to-audio")
        data = http.get(f"/v1/audio/text-to-audio/{some}", headers=account.bearer).json()["data"]
        assert data["task_status"] == "succeed"
        assert http.get(data["task_result"]["audios"][0]["url_mp3"]).status_code == 200
