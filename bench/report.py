"""Results as data (sections, tables, target verdicts) and as the markdown of ``docs/benchmarks.md``."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata

LIBRARIES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "sqlalchemy",
    "aiosqlite",
    "pyjwt",
    "av",
    "numpy",
    "pyinstrument",
)


@dataclass(frozen=True)
class Verdict:
    target: str  # e.g. "query (API key) ≥ 0.5× bare req/s"
    result: str  # e.g. "0.62×"
    passed: bool

    @property
    def mark(self) -> str:
        return "pass" if self.passed else "**miss**"


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.headers) + " |", "|" + "|".join("---" for _ in self.headers) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


@dataclass
class Section:
    key: str  # the measurement's name on the command line
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)  # raw markdown shown after the notes
    metrics: dict[str, float] = field(default_factory=dict)  # measured quantities, all > 0
    values: dict[str, float] = field(default_factory=dict)  # derived quantities that may be ≤ 0

    def markdown(self) -> str:
        parts = [f"## {self.title}", ""]
        if self.intro:
            parts += [self.intro, ""]
        for table in self.tables:
            parts += [table.markdown(), ""]
        if self.verdicts:
            parts += [f"- Target {v.target}: {v.result} — {v.mark}" for v in self.verdicts] + [""]
        parts += [f"- {note}" for note in self.notes] + ([""] if self.notes else [])
        for block in self.blocks:
            parts += [block, ""]
        if self.commands:
            parts += ["Commands:", "", "```", *self.commands, "```", ""]
        return "\n".join(parts)


# ---- formatting ---------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def rps(value: float) -> str:
    return f"{value:,.0f}"


def ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def ratio(value: float) -> str:
    return f"{value:.2f}×"


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


# ---- the machine --------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total() -> str:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine(load_tool: str) -> Table:
    table = Table(["", ""])
    table.add("CPU", _cpu_model())
    table.add("cores", f"{os.cpu_count()} (usable: {len(os.sched_getaffinity(0))})")
    table.add("memory", _mem_total())
    table.add("OS", f"{platform.system()} {platform.release()}")
    table.add("Python", sys.version.split()[0])
    table.add("libraries", ", ".join(f"{n} {_version(n)}" for n in LIBRARIES))
    table.add("load generator", load_tool)
    table.add("load average (1/5/15 min) at start", load_average())
    return table


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


# ---- the document -------------------------------------------------------------------------


@dataclass
class Report:
    sections: list[Section]
    machine: Table
    quick: bool
    seconds: float
    start_load: float = 0.0  # 1-minute load average before the first measurement

    @property
    def verdicts(self) -> list[Verdict]:
        return [v for s in self.sections for v in s.verdicts]

    def markdown(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        mode = "`--quick` (smoke sizes: the numbers mean nothing)" if self.quick else "full"
        parts = [
            "# Benchmarks",
            "",
            "Generated by `python -m bench` (do not edit by hand). Every number is measured against a baseline "
            "taken in the same run and reported as a ratio; medians of the runs shown. Servers are one uvicorn "
            "process each, on loopback, started and stopped by the bench in temporary data directories.",
            "",
            f"Run: {stamp}, mode {mode}, {self.seconds:.0f} s in all. Rerun one part with "
            "`python -m bench <name>` (" + ", ".join(f"`{s.key}`" for s in self.sections) + ").",
            "",
            "## Machine",
            "",
            self.machine.markdown(),
            "",
        ]
        cores = os.cpu_count() or 1
        if self.start_load > 0.5 * cores:
            parts += [
                f"The machine was shared while this ran (1-minute load average {self.start_load:.1f} on {cores} "
                "cores before the first measurement): absolute req/s and render speeds are depressed and "
                "noisy. The ratios (both sides measured alternately under the same conditions) and the "
                "server CPU per request are the steadier figures.",
                "",
            ]
        if self.verdicts:
            summary = Table(["target", "result", "verdict"])
            for v in self.verdicts:
                summary.add(v.target, v.result, v.mark)
            parts += ["## Targets", "", summary.markdown(), ""]
        parts += [s.markdown() for s in self.sections]
        return "\n".join(parts).rstrip() + "\n"
