"""Scale-out on one machine, PostgreSQL store: query throughput with 2 API processes vs 1, and
short-audio tasks per minute with 3 worker processes vs 1 (procrastinate job backend).

Both ratios are measured in the same run against the same throwaway database. On a 2-core machine
the processes (and the load generator) share the cores, so the ratios show what a second replica
or more workers buy *here*, not on separate machines. Needs PostgreSQL (``KLING_TEST_PG_DSN``,
default ``host=127.0.0.1 port=5432 user=postgres dbname=test``) and procrastinate.

    python -m bench scaleout [--quick]     # as a section of the benchmark report
    python -m bench.scaleout [--quick]     # standalone: JSON and the table on stdout

The report section is skipped, with a note saying why, when PostgreSQL cannot be reached or the
``distributed`` extra (psycopg, procrastinate) is not installed.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from . import report
from .config import LoadTool
from .context import BenchContext
from .load import LoadSpec, child_env, run_load
from .servers import HOST, Server, bare, free_port

TWO_API_FLOOR = 1.7  # issue #19: 2 API processes on PostgreSQL vs one
SCALING_FLOOR = 0.9  # the gateway's 2-vs-1 ratio against the bare app's, same machine, same run
PG_ADMIN_DSN = os.environ.get("KLING_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test")


def unavailable() -> str | None:
    """Why the measurement cannot run here (no PostgreSQL, no driver), or None when it can."""
    try:
        import procrastinate  # noqa: F401
    except ImportError as exc:
        return f"the 'distributed' extra is not installed ({exc.name} missing)"
    return postgres_unavailable()


def postgres_unavailable() -> str | None:
    """Why no throwaway PostgreSQL database can be had here (no server, no driver), or None."""
    try:
        import psycopg
    except ImportError as exc:
        return f"the 'distributed' extra is not installed ({exc.name} missing)"
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL is not reachable at `{PG_ADMIN_DSN}` ({first})"
    return None


@contextmanager
def database() -> Iterator[str]:
    """A throwaway PostgreSQL database (created, then dropped with its connections): its URL."""
    import psycopg

    name = "kg_bench_" + secrets.token_hex(4)
    params = dict(part.split("=", 1) for part in PG_ADMIN_DSN.split())
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield (
            f"postgresql+psycopg://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:"
            f"{params.get('port', '5432')}/{name}"
        )
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _Cluster:
    """API and worker processes sharing a data dir (keys, secrets, results) and one database."""

    def __init__(self, data_dir: Path, database_url: str, stack: ExitStack):
        self.data_dir = data_dir
        self.stack = stack
        self.env = {
            "KLING_GATEWAY_DATABASE_URL": database_url,
            "KLING_GATEWAY_JOB_BACKEND": "procrastinate",
            "KLING_GATEWAY_ENGINE_PROCESSES": "1",
            "KLING_GATEWAY_URL_SECRET": "bench",
            "KLING_GATEWAY_STORAGE_URL": str(data_dir / "results"),
        }

    def api(self) -> Server:
        port = free_port()
        args = [
            "serve",
            "--no-workers",
            "--host",
            HOST,
            "--port",
            str(port),
            "--data-dir",
            str(self.data_dir),
            "--log-level",
            "warning",
        ]
        server = Server(
            [sys.executable, "-m", "kling_gateway", *args],
            "kling-gateway serve --no-workers",
            self.data_dir / f"api-{port}.log",
            port=port,
            env=self.env,
        )
        return self.stack.enter_context(server)

    @contextmanager
    def workers(self, count: int, concurrency: int = 2) -> Iterator[None]:
        procs = []
        try:
            for index in range(count):
                log = self.data_dir / f"worker-{index}-{time.monotonic_ns()}.log"
                procs.append(
                    (
                        subprocess.Popen(
                            [
                                sys.executable,
                                "-m",
                                "kling_gateway",
                                "worker",
                                "--data-dir",
                                str(self.data_dir),
                                "--queues",
                                "render",
                                "--concurrency",
                                str(concurrency),
                            ],
                            env={**child_env(), **self.env},
                            stdout=open(log, "ab"),
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                        ),
                        log,
                    )
                )
            for proc, log in procs:
                deadline = time.monotonic() + 60
                while "worker ready" not in log.read_text(errors="replace"):
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"worker did not start:\n{log.read_text(errors='replace')}")
                    time.sleep(0.1)
            yield
        finally:
            for proc, _ in procs:
                proc.send_signal(signal.SIGTERM)
            for proc, _ in procs:
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                with _suppress():
                    os.killpg(proc.pid, signal.SIGKILL)  # render processes left in its session

    def create_key(self) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "kling_gateway", "keys", "create", "--data-dir", str(self.data_dir)],
            env={**child_env(), **self.env},
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout)["api_key"]


@contextmanager
def _suppress() -> Iterator[None]:
    try:
        yield
    except (ProcessLookupError, PermissionError):
        pass


def _tasks_per_minute(api: Server, key: str, count: int) -> dict[str, float]:
    """Submit ``count`` 3-second audio tasks at once; minutes from the first submit to the last finish."""
    headers = {"Authorization": f"Bearer {key}"}
    path = "/v1/audio/text-to-audio"
    with httpx.Client(base_url=api.base_url, timeout=60) as http:
        started = time.monotonic()
        ids = []
        for i in range(count):
            response = http.post(path, json={"prompt": f"bench tone {i}", "duration": 3}, headers=headers)
            response.raise_for_status()
            ids.append(response.json()["data"]["task_id"])
        pending = set(ids)
        deadline = started + 600
        while pending and time.monotonic() < deadline:
            listed = http.get(path, params={"pageNum": 1, "pageSize": 500}, headers=headers).json()["data"]
            pending -= {t["task_id"] for t in listed if t["task_status"] in ("succeed", "failed")}
            time.sleep(0.2)
        seconds = time.monotonic() - started
    if pending:
        raise RuntimeError(f"{len(pending)} tasks unfinished after 600 s")
    return {"tasks": count, "seconds": round(seconds, 2), "tasks_per_minute": round(count / seconds * 60, 1)}


def _query_rps(
    replicas: list[Server],
    headers: tuple[tuple[str, str], ...],
    path: str,
    connections: int,
    duration: float,
    load_tool: LoadTool = "auto",
) -> dict[str, Any]:
    """GET ``path`` through ``replicas`` (connections split evenly, one wrk per replica, at once)."""
    from concurrent.futures import ThreadPoolExecutor

    per = max(1, connections // len(replicas))
    specs = [
        LoadSpec(server.base_url, (path,), headers=headers, connections=per, duration=duration)
        for server in replicas
    ]
    with ThreadPoolExecutor(len(specs)) as pool:
        results = list(pool.map(lambda spec: run_load(spec, load_tool), specs))
    return {
        "rps": round(sum(r.rps for r in results), 1),
        "errors": sum(r.errors for r in results),
        "p99_ms": round(max(r.p99_ms for r in results), 1),
        "tool": results[0].tool,
    }


def _median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median req/s (its p99 and tool with it), errors summed over all runs."""
    ordered = sorted(runs, key=lambda r: float(r["rps"]))
    middle = dict(ordered[len(ordered) // 2])
    middle["errors"] = sum(int(r["errors"]) for r in runs)
    middle["runs"] = [r["rps"] for r in runs]
    return middle


def _scaling(
    one: list[Server], two: list[Server], rounds: int, measure: Callable[[list[Server]], dict[str, Any]]
) -> dict[str, Any]:
    """1 vs 2 replicas, runs alternating (1, 2, 1, 2…) so both see the same machine; medians."""
    single, double = [], []
    for _ in range(rounds):
        single.append(measure(one))
        double.append(measure(two))
    s, d = _median_of(single), _median_of(double)
    return {"1_api": s, "2_api": d, "ratio_2_vs_1": round(d["rps"] / s["rps"], 2) if s["rps"] else 0.0}


def run(quick: bool = False, load_tool: LoadTool = "auto") -> dict[str, Any]:
    """Both measurements; returns a dict of numbers and ratios (see the module docstring)."""
    count = 8 if quick else 120
    duration = 1.0 if quick else 10.0
    connections = 8 if quick else 32
    out: dict[str, Any] = {"quick": quick, "cores": os.cpu_count()}
    with database() as url, tempfile.TemporaryDirectory(prefix="kg-scaleout-") as tmp, ExitStack() as stack:
        cluster = _Cluster(Path(tmp), url, stack)
        first = cluster.api()
        key = cluster.create_key()
        with cluster.workers(1):
            one = _tasks_per_minute(first, key, count)
        with cluster.workers(3):
            three = _tasks_per_minute(first, key, count)
        out["workers"] = {
            "1": one,
            "3": three,
            "ratio_3_vs_1": round(three["tasks_per_minute"] / one["tasks_per_minute"], 2),
        }
        headers = (("Authorization", f"Bearer {key}"),)
        with httpx.Client(base_url=first.base_url) as http:
            task_id = http.get("/v1/audio/text-to-audio", headers=dict(headers)).json()["data"][0]["task_id"]
            path = f"/v1/audio/text-to-audio/{task_id}"
            captured = http.get(path, headers=dict(headers)).content
        second = cluster.api()
        rounds = 1 if quick else 3

        def measure(replicas: list[Server]) -> dict[str, Any]:
            return _query_rps(replicas, headers, path, connections, duration, load_tool)

        out["query"] = _scaling([first], [first, second], rounds, measure)
        bare_one = stack.enter_context(bare(captured, b"{}", Path(tmp) / "bare"))
        bare_two = stack.enter_context(bare(captured, b"{}", Path(tmp) / "bare"))
        out["bare"] = _scaling([bare_one], [bare_one, bare_two], rounds, measure)
        ceiling = out["bare"]["ratio_2_vs_1"]
        out["query"]["vs_bare_scaling"] = round(out["query"]["ratio_2_vs_1"] / ceiling, 2) if ceiling else 0.0
    return out


def table(result: dict[str, Any]) -> report.Table:
    q, b, w = result["query"], result["bare"], result["workers"]
    out = report.Table(["measurement", "1 process", "more processes", "ratio"])
    out.add(
        f"query req/s (GET finished task, {q['1_api']['tool']})",
        q["1_api"]["rps"],
        f"{q['2_api']['rps']} (2 API)",
        f"{q['ratio_2_vs_1']}×",
    )
    out.add(
        "bare app req/s (the same answer from memory: this machine's ceiling)",
        b["1_api"]["rps"],
        f"{b['2_api']['rps']} (2 bare)",
        f"{b['ratio_2_vs_1']}×",
    )
    out.add(
        f"short audio tasks/min ({w['1']['tasks']} tasks, concurrency 2 per worker)",
        w["1"]["tasks_per_minute"],
        f"{w['3']['tasks_per_minute']} (3 workers)",
        f"{w['ratio_3_vs_1']}×",
    )
    return out


def markdown(result: dict[str, Any]) -> str:
    return table(result).markdown()


def section(ctx: BenchContext) -> report.Section:
    """The ``scaleout`` measurement of ``python -m bench`` (skipped, with a note, without PostgreSQL)."""
    sec = report.Section("scaleout", "Scale-out: 2 API processes vs 1, 3 workers vs 1 (PostgreSQL)")
    sec.commands += ["python -m bench scaleout", "python -m bench.scaleout   # standalone, prints JSON"]
    why = unavailable()
    if why is not None:
        sec.intro = (
            f"Skipped: {why}. Set `KLING_TEST_PG_DSN` to an admin DSN of a reachable server to run it."
        )
        return sec
    result = run(ctx.config.quick, ctx.config.load_tool)
    q, w = result["query"], result["workers"]
    sec.intro = (
        "One machine, one throwaway PostgreSQL database, procrastinate job backend; API processes run "
        "`kling-gateway serve --no-workers`, workers `kling-gateway worker --queues render --concurrency 2`, "
        "all sharing one data dir. Query: GET one finished task, "
        f"{q['1_api']['tool']} with the connections split evenly over the replicas (one generator per replica, "
        "run at once). Tasks/min: short text-to-audio tasks (3 s) submitted at once, first submit to last end. "
        f"On {result['cores']} cores the processes and the load generator share the CPUs, so the ratios show what "
        "a second replica or more workers buy *here*, not on separate machines. The bare app (a Starlette app "
        "answering the gateway's captured bytes from memory, no database) measured the same way, 1 vs 2 "
        "processes, is the most any second process can add on this machine; query runs alternate 1, 2, 1, 2… "
        "(gateway and bare), medians of "
        f"{len(q['1_api']['runs'])} run(s) each."
    )
    sec.tables.append(table(result))
    sec.verdicts.append(
        report.Verdict(
            f"PostgreSQL, 2 API processes ≥ {TWO_API_FLOOR}× one (query req/s)",
            f"{q['ratio_2_vs_1']}×",
            float(q["ratio_2_vs_1"]) >= TWO_API_FLOOR,
        )
    )
    sec.verdicts.append(
        report.Verdict(
            f"PostgreSQL, 2 API processes scale ≥ {SCALING_FLOOR}× as well as the bare app (same run)",
            f"{q['vs_bare_scaling']}× ({q['ratio_2_vs_1']}× vs bare {result['bare']['ratio_2_vs_1']}×)",
            float(q["vs_bare_scaling"]) >= SCALING_FLOOR,
        )
    )
    if float(result["bare"]["ratio_2_vs_1"]) < TWO_API_FLOOR:
        sec.notes.append(
            f"The bare app itself reaches only {result['bare']['ratio_2_vs_1']}× with a second process here "
            f"({result['cores']} cores shared by the servers and the load generators): the {TWO_API_FLOOR}× "
            "target needs cores the load generator does not share."
        )
    sec.metrics.update(
        {
            "scaleout.query_rps_1_api": float(q["1_api"]["rps"]),
            "scaleout.query_rps_2_api": float(q["2_api"]["rps"]),
            "scaleout.query_ratio_2_vs_1": float(q["ratio_2_vs_1"]),
            "scaleout.bare_ratio_2_vs_1": float(result["bare"]["ratio_2_vs_1"]),
            "scaleout.query_vs_bare_scaling": float(q["vs_bare_scaling"]),
            "scaleout.tasks_per_min_1_worker": float(w["1"]["tasks_per_minute"]),
            "scaleout.tasks_per_min_3_workers": float(w["3"]["tasks_per_minute"]),
            "scaleout.workers_ratio_3_vs_1": float(w["ratio_3_vs_1"]),
        }
    )
    errors = sum(int(r[n]["errors"]) for r in (q, result["bare"]) for n in ("1_api", "2_api"))
    if errors:
        sec.notes.append(f"{errors} query request(s) failed (socket errors, timeouts or non-2xx).")
    return sec


if __name__ == "__main__":
    result = run(quick="--quick" in sys.argv[1:])
    print(json.dumps(result, indent=2))
    print(markdown(result))
