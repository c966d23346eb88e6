"""A small HTTP/1.1 keep-alive load generator (the fallback when wrk is missing).

Reads a :class:`bench.load.LoadSpec` as JSON on stdin, runs ``connections`` connections for
``duration`` seconds (each sends one request, reads the whole response, repeats), and prints one
``BENCH_JSON {...}`` line like the wrk script does. Runs in its own process so it never shares an
event loop with a server.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from urllib.parse import urlsplit


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(pct / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def build_requests(spec: dict) -> list[bytes]:
    parts = urlsplit(spec["base_url"])
    host = parts.netloc
    body = spec["body"].encode() if spec.get("body") is not None else b""
    out = []
    for path in spec["paths"]:
        lines = [f"{spec['method']} {path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{k}: {v}" for k, v in spec["headers"]]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        out.append(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    return out


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, rest = head.partition(b"\r\n")
    status = int(status_line.split()[1])
    length = 0
    for line in rest.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _connection(
    host: str,
    port: int,
    requests: list[bytes],
    offset: int,
    deadline: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while time.perf_counter() < deadline:
            payload = requests[i % len(requests)]
            i += 1
            start = time.perf_counter()
            writer.write(payload)
            try:
                status = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                errors[0] += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            latencies.append(time.perf_counter() - start)
            if not 200 <= status < 300:
                errors[0] += 1
    finally:
        writer.close()


async def run(spec: dict) -> dict[str, float]:
    parts = urlsplit(spec["base_url"])
    requests = build_requests(spec)
    latencies: list[float] = []
    errors = [0]
    start = time.perf_counter()
    deadline = start + float(spec["duration"])
    await asyncio.gather(
        *(
            _connection(
                parts.hostname or "127.0.0.1", parts.port or 80, requests, n, deadline, latencies, errors
            )
            for n in range(int(spec["connections"]))
        )
    )
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": len(latencies),
        "duration_us": elapsed * 1e6,
        "p50_us": percentile(latencies, 50) * 1e6,
        "p99_us": percentile(latencies, 99) * 1e6,
        "errors": errors[0],
    }


def main() -> None:
    spec = json.loads(sys.stdin.read())
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(spec))
    else:
        result = uvloop.run(run(spec))
    print("BENCH_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
