"""One typed settings object, read from the environment (``KLING_GATEWAY_*``) and an
optional TOML file (``KLING_GATEWAY_CONFIG`` or ``--config``).

Precedence: explicit keyword arguments > environment > TOML file > defaults.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

ENV_PREFIX = "KLING_GATEWAY_"


class Settings(BaseModel):
    """Everything the gateway can be told. Defaults run the embedded, single-process mode."""

    data_dir: Path = Field(default=Path("./data"), description="SQLite file, results and secrets live here")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite+aiosqlite:///<data_dir>/gateway.sqlite3"
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str | None = Field(
        default=None, description="Base URL clients reach the gateway at; used in result URLs"
    )
    ssl_certfile: Path | None = Field(
        default=None, description="PEM certificate (chain) to serve HTTPS with; unset = plain HTTP"
    )
    ssl_keyfile: Path | None = Field(
        default=None, description="PEM private key of ssl_certfile; unset = the key is in ssl_certfile"
    )

    # workers and life cycle
    workers: int = Field(default=2, description="in-process task workers (0 = API only)")
    lease_seconds: float = 60.0
    poll_interval_seconds: float = 0.5
    reconcile_interval_seconds: float = 5.0
    task_timeout_seconds: float = Field(default=1800.0, description="sweeper fails tasks older than this")
    sweep_interval_seconds: float = 10.0
    max_attempts: int = 3

    # scale-out (see docs/deploy.md)
    db_pool_size: int = Field(default=10, description="connections kept open per process (PostgreSQL)")
    db_max_overflow: int = Field(default=10, description="extra connections a process may open under load")
    job_backend: Literal["local", "procrastinate"] = Field(
        default="local",
        description="local = in-process claim loop over leased rows; procrastinate = jobs on the same "
        "PostgreSQL (needs the 'distributed' extra), queues 'render' and 'relay'",
    )
    job_fallback_seconds: float = Field(
        default=10.0,
        description="procrastinate backend: workers also claim rows left runnable this long (a lost job)",
    )

    # results
    url_ttl_seconds: int = 24 * 3600
    retention_days: float = 30.0

    # input fetching
    fetch_timeout_seconds: float = 20.0
    fetch_max_bytes: int = 200 * 1024 * 1024
    fetch_allow_private: bool = False
    fetch_allow_hosts: list[str] = Field(
        default_factory=list, description="hosts or CIDRs opened despite the private-address guard"
    )

    # reference engine
    engine_pacing: bool = Field(default=False, description="pace tasks like the real service (slow)")
    engine_processes: int = Field(default=0, description="render processes; 0 = number of cores")
    engine_niceness: int = Field(
        default=10,
        ge=0,
        le=19,
        description="nice value of the render processes: under load the API and the workers keep the CPU first",
    )
    sync_timeout_seconds: float = Field(
        default=60.0, gt=0, description="a synchronous call (audio/tts) answers or fails within this"
    )

    # result storage
    storage_url: str | None = Field(
        default=None,
        description="s3://bucket[/prefix] for S3-compatible storage; a path or file:// URL for a local dir; "
        "unset = <data_dir>/results",
    )
    storage_endpoint: str | None = Field(default=None, description="S3 endpoint URL (MinIO, moto, R2...)")
    storage_region: str | None = None
    storage_access_key: str | None = Field(default=None, description="unset = from AWS_* environment")
    storage_secret_key: str | None = Field(default=None, description="unset = from AWS_* environment")
    storage_allow_http: bool = False
    storage_presign: bool = Field(
        default=False, description="hand out S3 presigned URLs instead of /files URLs"
    )

    # callbacks and event streams (docs/push.md)
    callback_timeout_seconds: float = Field(
        default=10.0, description="a receiver slower than this is retried"
    )
    callback_retry_base_seconds: float = 5.0
    callback_retry_max_delay_seconds: float = 3600.0
    callback_retry_jitter: float = 0.2
    callback_max_attempts: int = 15
    callback_retry_window_seconds: float = Field(default=86400.0, description="give up after this long")
    callback_poll_seconds: float = 2.0
    callback_sweep_seconds: float = 30.0
    callback_concurrency: int = 16
    sse_keepalive_seconds: float = 15.0

    # relay channels, as parsed from the TOML file's [[channels]] tables
    channels: list[dict[str, Any]] = Field(default_factory=list)
    # model catalogue additions/overrides, as parsed from the TOML file's [[models]] tables
    models: list[dict[str, Any]] = Field(default_factory=list)

    # request limits and server protocol limits (docs/security.md)
    max_create_body_bytes: int = Field(
        default=64 * 1024 * 1024,
        description="largest create body (inline Base64 media: four 10 MB images fit); larger = 413",
    )
    max_body_bytes: int = Field(default=256 * 1024, description="largest body of any other request")
    max_unknown_field_bytes: int = Field(
        default=16 * 1024,
        description="undocumented create fields are relayed unchanged up to this size in total (JSON)",
    )
    max_json_depth: int = Field(default=32, description="deepest JSON nesting accepted in a body")
    max_header_bytes: int = Field(default=16 * 1024, description="request line + headers; larger = 431")
    header_timeout_seconds: float = Field(default=10.0, description="time to send the request headers")
    body_timeout_seconds: float = Field(default=60.0, description="time to send the request body")
    keep_alive_timeout_seconds: int = Field(default=5, description="idle keep-alive connection lifetime")
    max_token_lifetime_seconds: int = Field(
        default=24 * 3600, description="a JWT whose exp is further than this from now is refused (1002)"
    )
    ops_access: Literal["open", "account", "admin", "off"] = Field(
        default="open",
        description="who may read /metrics, /docs, /redoc and /openapi.json: anyone, any valid key, "
        "the admin_token only, or nobody (/push/stats needs at least a valid key)",
    )
    rate_limit_per_second: float = Field(
        default=0.0, description="requests per second per key (token bucket); 0 = unlimited"
    )
    rate_limit_burst: int = Field(default=50, description="token bucket size per key")
    idempotency_ttl_seconds: float = Field(default=24 * 3600.0, description="Idempotency-Key memory")

    url_secret: str | None = Field(default=None, description="HMAC key for signed result URLs")
    admin_token: str | None = Field(
        default=None,
        description="Bearer token for the operator's admin API and ops endpoints; unset = admin API off",
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'gateway.sqlite3').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def results_dir(self) -> Path:
        return self.data_dir / "results"

    def secret(self) -> str:
        """The URL-signing secret; generated once and kept in the data dir when not configured."""
        if self.url_secret:
            return self.url_secret
        from .fsmodes import create_private_file, private_dir

        path = private_dir(self.data_dir) / "url-secret"
        create_private_file(path, secrets.token_urlsafe(32).encode())  # no-op when it exists
        self.url_secret = path.read_text().strip()
        return self.url_secret

    def base_url(self) -> str:
        scheme = "https" if self.ssl_certfile else "http"
        return (self.public_base_url or f"{scheme}://{self.host}:{self.port}").rstrip("/")


def _coerce_env(field: str, raw: str) -> Any:
    annotation = Settings.model_fields[field].annotation
    if annotation in (list[str],):
        return [part.strip() for part in raw.split(",") if part.strip()]
    if annotation is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return raw


def load_settings(config_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Build settings from file, environment and explicit overrides (``None`` overrides are ignored)."""
    values: dict[str, Any] = {}
    path = config_file or os.environ.get(ENV_PREFIX + "CONFIG")
    if path:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        gateway = data.get("gateway", {})
        values.update(gateway)
        for table in ("channels", "models"):
            if table in data:
                values[table] = data[table]
    for name in Settings.model_fields:
        env = os.environ.get(ENV_PREFIX + name.upper())
        if env is not None and name not in ("channels", "models"):
            values[name] = _coerce_env(name, env)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)
