"""Runs measurements by name and assembles the report."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

from . import cpu, create, engine, hotpath, listing, memory, query, relay, report, saturation, scaleout
from .config import BenchConfig
from .context import BenchContext

Measurement = Callable[[BenchContext], report.Section]

MEASUREMENTS: dict[str, Measurement] = {
    "query": query.run,
    "create": create.run,
    "list": listing.run,
    "memory": memory.run,
    "engine": engine.run,
    "saturation": saturation.run,
    "profile": hotpath.run,
    "relay": relay.run,
    "scaleout": scaleout.section,
    "cpu": cpu.run,
}


def run(names: Sequence[str], config: BenchConfig, progress: Callable[[str], None] = print) -> report.Report:
    started = time.perf_counter()
    start_load = os.getloadavg()[0]
    sections = []
    with BenchContext(config) as ctx:
        machine = report.machine(ctx.load_tool)
        for name in names:
            t0 = time.perf_counter()
            progress(f"bench: {name} ...")
            sections.append(MEASUREMENTS[name](ctx))
            progress(f"bench: {name} done in {time.perf_counter() - t0:.0f} s")
        machine.add("load average (1/5/15 min) at end", report.load_average())
    return report.Report(sections, machine, config.quick, time.perf_counter() - started, start_load)
