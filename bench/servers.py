"""Servers the bench starts and stops: the gateway (``kling-gateway serve``) and the bare
baseline (:mod:`bench.bare`), both one uvicorn process on loopback with the same settings."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import httpx

from .load import REPO_ROOT, child_env

HOST = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from ``/proc/<pid>/status`` (VmRSS, KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all threads, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Server:
    """A child process serving HTTP on ``port``; a context manager that always stops it.

    The child gets its own session so that anything it spawns (render processes) is stopped with it.
    """

    def __init__(
        self, argv: Sequence[str], shown: str, log_path: Path, *, port: int, env: dict[str, str] | None = None
    ):
        self.argv = list(argv)
        self.shown = shown  # the command as the docs print it
        self.log_path = log_path
        self.port = port
        self.env = {**child_env(), "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> Server:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.shown} exited early:\n{self.log()}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.shown} did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        try:  # render processes left behind in the child's own session
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def gateway(
    data_dir: Path, *, workers: int = 0, engine_processes: int | None = None, database_url: str | None = None
) -> Server:
    """``kling-gateway serve`` on a free port; ``workers=0`` runs the API only (no rendering);
    ``database_url``: its store there instead of the SQLite file in ``data_dir``."""
    port = free_port()
    args = [
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--log-level",
        "warning",
    ]
    args += ["--no-workers"] if workers == 0 else ["--workers", str(workers)]
    env = {"KLING_GATEWAY_ENGINE_PROCESSES": str(engine_processes)} if engine_processes is not None else {}
    if database_url is not None:
        env["KLING_GATEWAY_DATABASE_URL"] = database_url
    shown = "kling-gateway " + " ".join(args).replace(str(data_dir), "<tmp data dir>").replace(
        str(port), "<port>"
    )
    return Server(
        [sys.executable, "-m", "kling_gateway", *args],
        shown,
        data_dir / f"server-{port}.log",
        port=port,
        env=env,
    )


def bare(get_body: bytes, post_body: bytes, work_dir: Path) -> Server:
    """The bare Starlette baseline answering with fixed bytes (see :mod:`bench.bare`)."""
    port = free_port()
    work_dir.mkdir(parents=True, exist_ok=True)
    get_file, post_file = work_dir / f"bare-{port}-get.json", work_dir / f"bare-{port}-post.json"
    get_file.write_bytes(get_body)
    post_file.write_bytes(post_body)
    args = ["--port", str(port), "--get-body", str(get_file), "--post-body", str(post_file)]
    shown = (
        "python -m bench.bare --port <port> --get-body <captured gateway body> --post-body <captured body>"
    )
    return Server(
        [sys.executable, "-m", "bench.bare", *args], shown, work_dir / f"bare-{port}.log", port=port
    )
