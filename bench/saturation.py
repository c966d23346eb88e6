"""4b. Query latency while the reference engine is saturated (workers rendering) vs idle."""

from __future__ import annotations

import time
from dataclasses import replace

import httpx

from . import report, servers
from .context import BenchContext
from .load import LoadResult, LoadSpec
from .versus import Stats, capture

TERMINAL = ("succeed", "failed")
BARE_FLOOR = 0.4  # issue #19: the query while the engine renders, against the bare app


def _statuses(client: httpx.Client, headers: dict[str, str], ids: list[str]) -> list[str]:
    return [
        client.get(f"/kling/v1/videos/text2video/{i}", headers=headers).json()["data"]["task_status"]
        for i in ids
    ]


def _runs(ctx: BenchContext, spec: LoadSpec) -> list[LoadResult]:
    return [ctx.load(spec) for _ in range(ctx.config.runs)]


def run(ctx: BenchContext) -> report.Section:
    cfg = ctx.config
    store = ctx.private_store("saturation")
    headers = dict(store.main.bearer)
    paths = tuple("/kling/v1/videos/text2video/" + i for i in store.query_ids)
    with (
        servers.gateway(store.data_dir, workers=2) as gateway,
        httpx.Client(base_url=gateway.base_url, timeout=30) as client,
    ):
        spec = ctx.spec(gateway.base_url, paths, store.main.bearer)
        with servers.bare(capture(spec), b"{}", ctx.root / "bare") as bare:
            bare_spec = replace(spec, base_url=bare.base_url)
            ctx.load(replace(spec, duration=cfg.warmup))
            ctx.load(replace(bare_spec, duration=cfg.warmup))
            idle, baseline = [], []
            for _ in range(cfg.runs):  # alternating, as in `query`
                idle.append(ctx.load(spec))
                baseline.append(ctx.load(bare_spec))
        created = []
        for _ in range(cfg.saturation_tasks):
            answer = client.post(
                "/kling/v1/videos/text2video",
                headers={**headers, "Content-Type": "application/json"},
                content=cfg.saturation_body,
            )
            answer.raise_for_status()
            created.append(answer.json()["data"]["task_id"])
        deadline = time.monotonic() + 30
        while "processing" not in _statuses(client, headers, created) and time.monotonic() < deadline:
            time.sleep(0.2)
        busy_started = time.monotonic()
        busy = _runs(ctx, spec)
        busy_seconds = time.monotonic() - busy_started
        left = sum(s not in TERMINAL for s in _statuses(client, headers, created))
        shown = gateway.shown
    quiet, loaded, bare_stats = Stats.of(idle), Stats.of(busy), Stats.of(baseline)
    section = report.Section(
        "saturation",
        "Reference engine: query latency while rendering",
        intro=(
            "The query load of `query` (API key, `/kling/v1`) against a gateway with 2 task workers and the "
            "default render pool (one process per core), first idle, then while it renders "
            f"{cfg.saturation_tasks} queued text2video tasks (`{cfg.saturation_body}`); the render "
            "processes run at `engine_niceness` (default 10). Ratios are against the idle run of the same "
            "process and against the bare app serving the same answer from memory (its runs alternate with "
            "the idle ones, before the renders start)."
        ),
    )
    table = report.Table(
        ["server", "req/s", "p50 ms", "p99 ms", "req/s vs idle", "p99 vs idle", "req/s vs bare"]
    )

    def row(label: str, stats: Stats) -> None:
        table.add(
            label,
            report.rps(stats.rps),
            report.ms(stats.p50_ms),
            report.ms(stats.p99_ms),
            report.ratio(stats.rps / quiet.rps if quiet.rps else 0.0),
            report.ratio(stats.p99_ms / quiet.p99_ms if quiet.p99_ms else 0.0),
            report.ratio(stats.rps / bare_stats.rps if bare_stats.rps else 0.0),
        )

    row("bare app (idle machine)", bare_stats)
    row("gateway, engine idle", quiet)
    row("gateway, engine saturated", loaded)
    section.tables.append(table)
    vs_bare = loaded.rps / bare_stats.rps if bare_stats.rps else 0.0
    section.verdicts.append(
        report.Verdict(
            f"query while the engine renders ≥ {BARE_FLOOR}× bare req/s",
            report.ratio(vs_bare),
            vs_bare >= BARE_FLOOR,
        )
    )
    section.metrics.update(
        {
            "saturation.idle_rps": quiet.rps,
            "saturation.idle_p99_ms": quiet.p99_ms,
            "saturation.busy_rps": loaded.rps,
            "saturation.busy_p99_ms": loaded.p99_ms,
            "saturation.busy_p50_ms": loaded.p50_ms,
            "saturation.bare_rps": bare_stats.rps,
            "saturation.busy_vs_bare": vs_bare,
        }
    )
    if left:
        section.notes.append(
            f"{left} of {len(created)} tasks were still rendering when the "
            f"{busy_seconds:.0f} s of loaded runs ended: the engine was busy throughout"
        )
    else:
        section.notes.append(
            f"all {len(created)} tasks finished within the {busy_seconds:.0f} s of loaded runs: "
            "the engine was not busy for all of it (raise `saturation_tasks`)"
        )
    errors = quiet.errors + loaded.errors + bare_stats.errors
    if errors:
        section.notes.append(f"{errors} requests failed (socket error, timeout or non-2xx)")
    section.commands += [
        shown + "   # 2 task workers, render processes = cores",
        "python -m bench saturation",
    ]
    return section
