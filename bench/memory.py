"""5. Memory: gateway RSS after warm-up and after 200,000 queries (growth %)."""

from __future__ import annotations

import time
from dataclasses import replace

from . import query, report, servers
from .context import BenchContext
from .load import LoadSpec

GROWTH_LIMIT_PCT = 10.0


def drive(ctx: BenchContext, spec: LoadSpec, requests: int, time_cap: float) -> tuple[int, float]:
    """Send load in chunks until ``requests`` were answered or ``time_cap`` seconds passed."""
    done, started = 0, time.perf_counter()
    while done < requests:
        elapsed = time.perf_counter() - started
        if elapsed >= time_cap:
            break
        chunk = min(ctx.config.memory_chunk, max(1.0, time_cap - elapsed))
        done += ctx.load(replace(spec, duration=chunk)).requests
    return done, time.perf_counter() - started


def run(ctx: BenchContext) -> report.Section:
    cfg = ctx.config
    store = ctx.seeded()
    # API key on both layouts (the JWT path differs only in the cached token check)
    paths = tuple(
        prefix + task_id
        for task_id in store.query_ids
        for _label, prefix, _headers in query.scenarios(store)[::2]
    )
    with servers.gateway(store.data_dir, workers=0) as gateway:
        spec = ctx.spec(gateway.base_url, paths, store.main.bearer)
        warm, _ = drive(ctx, spec, cfg.memory_warmup_queries, cfg.memory_time_cap)
        before = servers.rss_kib(gateway.pid)
        sent, took = drive(ctx, spec, cfg.memory_queries, cfg.memory_time_cap)
        after = servers.rss_kib(gateway.pid)
        shown = gateway.shown
    growth = (after - before) / before * 100
    section = report.Section(
        "memory",
        "Memory: gateway RSS under sustained queries",
        intro=(
            f"VmRSS of the gateway process (from `/proc/<pid>/status`) after {warm:,} warm-up queries, then "
            f"after {sent:,} more (the query load of `query`, API key on both layouts, cycling "
            f"{len(paths):,} paths). The baseline is the warm-up RSS."
        ),
    )
    table = report.Table(
        ["RSS after warm-up", f"RSS after {sent:,} queries", "growth", "queries/s during the run"]
    )
    table.add(report.mib(before), report.mib(after), f"{growth:+.1f} %", report.rps(sent / took))
    section.tables.append(table)
    section.metrics.update(
        {"memory.rss_warm_kib": before, "memory.rss_after_kib": after, "memory.queries": sent}
    )
    section.values["memory.growth_pct"] = growth
    section.verdicts.append(
        report.Verdict(
            f"memory growth ≤ {GROWTH_LIMIT_PCT:g} %", f"{growth:+.1f} %", growth <= GROWTH_LIMIT_PCT
        )
    )
    if sent < cfg.memory_queries:
        section.notes.append(
            f"stopped after the {cfg.memory_time_cap:g} s time cap: {sent:,} of the "
            f"{cfg.memory_queries:,} queries asked for were sent"
        )
    section.commands += [shown, "python -m bench memory"]
    return section
