"""Harness for the scale-out tests: moto's S3 server, worker processes, cluster helpers."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import GatewayProcess, kill9_tree, require_service

S3_KEYS = {"access": "test", "secret": "test", "region": "us-east-1"}


def procrastinate_available() -> bool:
    return importlib.util.find_spec("procrastinate") is not None


def require_procrastinate() -> None:
    require_service(
        procrastinate_available(), "procrastinate is not installed (pip install '.[distributed]')"
    )


class MotoS3:
    """moto's real S3 server on a free loopback port, with one bucket."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.bucket = f"results-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=self.bucket)

    @classmethod
    def start_or_skip(cls) -> MotoS3:
        try:
            return cls()
        except Exception as exc:  # any failure to start means "no S3 here"
            require_service(False, f"moto S3 server could not start here: {exc!r}")
            raise  # unreachable: require_service skips or fails

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=S3_KEYS["region"],
            aws_access_key_id=S3_KEYS["access"],
            aws_secret_access_key=S3_KEYS["secret"],
        )

    def keys(self, prefix: str = "") -> list[str]:
        found: list[str] = []
        for page in (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        ):
            found.extend(item["Key"] for item in page.get("Contents", []))
        return found

    def gateway_env(self, prefix: str = "gw", presign: bool = False) -> dict[str, str]:
        """Settings (as environment) for a gateway storing results in this bucket."""
        return {
            "KLING_GATEWAY_STORAGE_URL": f"s3://{self.bucket}/{prefix}",
            "KLING_GATEWAY_STORAGE_ENDPOINT": self.endpoint,
            "KLING_GATEWAY_STORAGE_REGION": S3_KEYS["region"],
            "KLING_GATEWAY_STORAGE_ACCESS_KEY": S3_KEYS["access"],
            "KLING_GATEWAY_STORAGE_SECRET_KEY": S3_KEYS["secret"],
            "KLING_GATEWAY_STORAGE_ALLOW_HTTP": "true",
            "KLING_GATEWAY_STORAGE_PRESIGN": "true" if presign else "false",
        }

    def stop(self) -> None:
        self.server.stop()


@dataclass
class WorkerProcess:
    """``kling-gateway worker`` as a real child process (shares the env rules of GatewayProcess)."""

    data_dir: Path
    database_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    queues: str = "render,relay"
    concurrency: int = 2
    config: Path | None = None
    name: str = "worker"
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def start(self, timeout: float = 90.0) -> WorkerProcess:
        env = GatewayProcess(self.data_dir, database_url=self.database_url, extra_env=self.extra_env).env()
        self.log_path = self.data_dir / f"{self.name}.log"
        args = [
            sys.executable,
            "-m",
            "kling_gateway",
            "worker",
            "--data-dir",
            str(self.data_dir),
            "--queues",
            self.queues,
            "--concurrency",
            str(self.concurrency),
        ]
        if self.config is not None:
            args += ["--config", str(self.config)]
        self.proc = subprocess.Popen(
            args, env=env, stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            if "worker ready" in self.log():
                return self
            time.sleep(0.1)
        self.stop()  # never leave a slow starter running behind a failed test
        raise RuntimeError(f"worker did not start in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def kill9(self) -> None:
        """SIGKILL the worker; its render-pool processes must die with it (checked, bounded)."""
        assert self.proc is not None
        kill9_tree(self.proc)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
