"""The gateway against the bare baseline: same requests, alternating runs, medians, ratios."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import httpx

from . import report, servers
from .context import BenchContext
from .load import LoadResult, LoadSpec


@dataclass(frozen=True)
class Stats:
    """Medians over the measured runs."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int  # all runs together
    errors: int
    cpu_ms: float  # server CPU (all threads) per request; 0 when not measured

    @classmethod
    def of(cls, results: list[LoadResult], cpu_seconds: list[float] | None = None) -> Stats:
        per_request = [
            cpu * 1000 / r.requests for cpu, r in zip(cpu_seconds or [], results, strict=False) if r.requests
        ]
        return cls(
            report.median([r.rps for r in results]),
            report.median([r.p50_ms for r in results]),
            report.median([r.p99_ms for r in results]),
            sum(r.requests for r in results),
            sum(r.errors for r in results),
            report.median(per_request),
        )


@dataclass(frozen=True)
class Comparison:
    label: str
    gateway: Stats
    bare: Stats
    command: str  # the load command of one run
    captured: bytes  # the gateway body the bare app served

    @property
    def rps_ratio(self) -> float:
        return self.gateway.rps / self.bare.rps if self.bare.rps else 0.0

    @property
    def p99_ratio(self) -> float:
        return self.gateway.p99_ms / self.bare.p99_ms if self.bare.p99_ms else 0.0

    @property
    def cpu_ratio(self) -> float:
        return self.gateway.cpu_ms / self.bare.cpu_ms if self.bare.cpu_ms else 0.0


def measured(ctx: BenchContext, server: servers.Server, spec: LoadSpec) -> tuple[LoadResult, float]:
    """One load run and the CPU seconds the server spent during it."""
    before = servers.cpu_seconds(server.pid)
    result = ctx.load(spec)
    return result, servers.cpu_seconds(server.pid) - before


def capture(spec: LoadSpec) -> bytes:
    """The gateway's answer to the first request of ``spec`` (what the bare app will serve)."""
    headers = dict(spec.headers)
    if spec.body is not None:
        headers.setdefault("Content-Type", "application/json")
    response = httpx.request(
        spec.method, spec.base_url + spec.paths[0], headers=headers, content=spec.body, timeout=30
    )
    if response.status_code != 200:
        raise RuntimeError(f"{spec.method} {spec.paths[0]} answered {response.status_code}: {response.text}")
    return response.content


def compare(
    ctx: BenchContext,
    label: str,
    gateway: servers.Server,
    make_spec: Callable[[str], LoadSpec],
    *,
    post_body: bytes = b"{}",
) -> Comparison:
    """Run ``make_spec(base_url)`` against the gateway and a bare app serving the captured body."""
    gateway_spec = make_spec(gateway.base_url)
    captured = capture(gateway_spec)
    get_body, post = (captured, post_body) if gateway_spec.method == "GET" else (b"{}", captured)
    with servers.bare(get_body, post, ctx.root / "bare") as bare:
        bare_spec = make_spec(bare.base_url)
        for spec in (gateway_spec, bare_spec):  # warm both up (caches, connections, JIT-less Python paths)
            ctx.load(replace(spec, duration=ctx.config.warmup))
        ours = [measured(ctx, gateway, gateway_spec)]
        theirs = [measured(ctx, bare, bare_spec)]
        for _ in range(ctx.config.runs - 1):
            ours.append(measured(ctx, gateway, gateway_spec))
            theirs.append(measured(ctx, bare, bare_spec))
    return Comparison(label, _stats(ours), _stats(theirs), ours[0][0].command, captured)


def _stats(runs: list[tuple[LoadResult, float]]) -> Stats:
    return Stats.of([r for r, _ in runs], [cpu for _, cpu in runs])


def table(comparisons: list[Comparison]) -> report.Table:
    out = report.Table(
        [
            "scenario",
            "gateway req/s",
            "bare req/s",
            "ratio",
            "gateway p50 / p99 ms",
            "bare p50 / p99 ms",
            "p99 ratio",
            "server CPU ms/req (gw / bare)",
            "CPU ratio",
            "errors (gw / bare)",
        ]
    )
    for c in comparisons:
        out.add(
            c.label,
            report.rps(c.gateway.rps),
            report.rps(c.bare.rps),
            report.ratio(c.rps_ratio),
            f"{report.ms(c.gateway.p50_ms)} / {report.ms(c.gateway.p99_ms)}",
            f"{report.ms(c.bare.p50_ms)} / {report.ms(c.bare.p99_ms)}",
            report.ratio(c.p99_ratio),
            f"{c.gateway.cpu_ms:.2f} / {c.bare.cpu_ms:.3f}",
            report.ratio(c.cpu_ratio),
            f"{c.gateway.errors} / {c.bare.errors}",
        )
    return out


def metrics(prefix: str, c: Comparison) -> dict[str, float]:
    return {
        f"{prefix}.gateway_rps": c.gateway.rps,
        f"{prefix}.bare_rps": c.bare.rps,
        f"{prefix}.ratio": c.rps_ratio,
        f"{prefix}.gateway_p50_ms": c.gateway.p50_ms,
        f"{prefix}.gateway_p99_ms": c.gateway.p99_ms,
        f"{prefix}.bare_p50_ms": c.bare.p50_ms,
        f"{prefix}.bare_p99_ms": c.bare.p99_ms,
        f"{prefix}.gateway_cpu_ms": c.gateway.cpu_ms,
        f"{prefix}.bare_cpu_ms": c.bare.cpu_ms,
    }


def error_notes(comparisons: list[Comparison]) -> list[str]:
    return [
        f"{c.label}: {c.gateway.errors} gateway / {c.bare.errors} bare requests failed (socket error, "
        "timeout or non-2xx) — the numbers above include them"
        for c in comparisons
        if c.gateway.errors or c.bare.errors
    ]
