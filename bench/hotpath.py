"""Where the query hot path spends its time: a sampling profile of the gateway's event-loop thread
under the `query` load, plus the CPU split between the gateway's threads."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import httpx

from . import report, servers
from .context import BenchContext

SHOWN = 12
BELOW_PCT = 30.0
MAIN = "main (event loop)"
OTHERS = "other threads (aiosqlite connections, thread pool)"


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of the event-loop thread and of all other threads, from ``/proc/<pid>/task``."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            name = MAIN if task.name == str(pid) else OTHERS
        except OSError:
            continue
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / servers.CLOCK_TICKS
    return out


def _is_loop(item: dict[str, object]) -> bool:
    """The frame that holds uvloop's C event loop: its self time is idle waiting plus libuv I/O."""
    return str(item["location"]).startswith("asyncio/runners.py")


def _label(item: dict[str, object]) -> str:
    location = str(item["location"])
    return f"`{item['function']}` ({location.replace('|', '/')})"


def _table(items: list[dict[str, object]], heading: str) -> report.Table:
    table = report.Table([heading, "seconds", "% of sampled time"])
    for item in items[:SHOWN]:
        table.add(_label(item), f"{float(item['seconds']):.2f}", f"{float(item['percent']):.1f}")  # type: ignore[arg-type]
    return table


def run(ctx: BenchContext) -> report.Section:
    store = ctx.seeded()
    out = ctx.root / "profile.json"
    port = servers.free_port()
    argv = [
        sys.executable,
        "-m",
        "bench.profiled",
        "--data-dir",
        str(store.data_dir),
        "--port",
        str(port),
        "--out",
        str(out),
    ]
    shown = "python -m bench.profiled --data-dir <store> --port <port> --out <json>"
    paths = tuple("/kling/v1/videos/text2video/" + i for i in store.query_ids)
    with servers.Server(argv, shown, ctx.root / "profiled.log", port=port) as gateway:
        spec = ctx.spec(gateway.base_url, paths, store.main.bearer, duration=ctx.config.profile_seconds)
        ctx.load(replace(spec, duration=ctx.config.warmup))
        httpx.get(gateway.base_url + "/__bench/profile/start", timeout=10).raise_for_status()
        cpu_before = thread_cpu(gateway.pid)
        result = ctx.load(spec)
        cpu_after = thread_cpu(gateway.pid)
        httpx.get(gateway.base_url + "/__bench/profile/stop", timeout=60).raise_for_status()
    data = json.loads(out.read_text())
    cpu = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
    cpu_total = sum(cpu.values()) or 1.0
    busy = sorted(((n, s) for n, s in cpu.items() if s > 0.005), key=lambda kv: kv[1], reverse=True)
    own = [i for i in data["own"] if not str(i["location"]).startswith("<thread>")]
    below = [
        i
        for i in data["inclusive"]
        if float(i["percent"]) < BELOW_PCT and not str(i["location"]).startswith("<thread>")
    ]  # type: ignore[arg-type]
    app_code = [i for i in data["inclusive"] if "kling_gateway" in str(i["location"])]

    section = report.Section(
        "profile",
        "Profile of the query hot path",
        intro=(
            f"{data['tool']} sampling the gateway's event-loop thread for {result.seconds:.1f} s under the "
            f"`query` load (API key, `/kling/v1`), {result.requests:,} requests at {report.rps(result.rps)} "
            "req/s while profiled. SQLite work runs in aiosqlite's threads: in the event-loop profile it "
            "shows up only as awaiting; the thread CPU table says how much of the process it is."
        ),
    )
    threads = report.Table(["thread", "CPU s", "% of process CPU"])
    for name, seconds in busy:
        threads.add(name, f"{seconds:.2f}", f"{100 * seconds / cpu_total:.1f}")
    section.tables += [
        threads,
        _table(own, "top self time (event-loop thread)"),
        _table(below, f"top inclusive time below the middleware stack (frames under {BELOW_PCT:g} %)"),
        _table(app_code, "kling_gateway functions, inclusive time"),
    ]
    loop = sum(float(i["percent"]) for i in own if _is_loop(i))  # type: ignore[arg-type]
    costs = [i for i in own if not _is_loop(i)][:5]
    section.notes.append(
        f"the event loop itself (`asyncio.run` holding uvloop: idle waiting for SQLite threads and clients, plus "
        f"libuv socket I/O) takes {loop:.1f} % of the sampled time; the top 5 other costs (self time): "
        + "; ".join(f"{_label(i)} {float(i['percent']):.1f} %" for i in costs)
    )  # type: ignore[arg-type]
    section.metrics.update(
        {
            "profile.sampled_s": float(data["total_s"]),
            "profile.requests": result.requests,
            "profile.process_cpu_s": cpu_total,
        }
    )
    section.values["profile.top"] = len(data["own"])
    section.commands += [shown, result.command, "python -m bench profile"]
    return section
