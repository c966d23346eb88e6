"""Relay channels as configured in the TOML file's ``[[channels]]`` tables (see docs/relay.md).

A channel is one upstream account: its type (``kling``, ``cometapi``, ``kling-compatible``),
where it lives, how to authenticate, what it serves and how hard to push it. Secrets may be
given inline, through an environment variable (``<field>_env``) or a file (``<field>_file``);
they are kept out of ``repr`` so they never reach a log line.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import GatewayError
from ...standard2.products import is_standard2

CHANNEL_TYPES = ("kling", "cometapi", "kling-compatible")
DEFAULT_BASE_URLS = {"kling": "https://api-singapore.klingai.com", "cometapi": "https://api.cometapi.com"}
DEFAULT_PREFIXES = {"kling": "/v1", "cometapi": "/kling/v1", "kling-compatible": "/v1"}
SECRET_FIELDS = ("access_key", "secret_key", "api_key", "webhook_secret")
RESERVED_NAMES = ("reference",)


class ChannelConfigError(GatewayError, ValueError):
    """A ``[[channels]]`` table is wrong; the message names the channel and the key."""


@dataclass(frozen=True)
class PollConfig:
    """Adaptive polling: the delay after a status check is ``clamp(age * factor, initial, max)``
    where ``age`` is the time since the upstream accepted the task. With callbacks on, polling is
    only the fallback and runs ``callback_slowdown`` times less often."""

    initial: float = 1.0
    factor: float = 0.5
    max_interval: float = 15.0
    callback_slowdown: float = 4.0
    batch_window: float = 1.0  # list sweeps at most this often; a snapshot this young answers
    list_queries: bool = True  # sweep tracked tasks through GET <family>?pageNum&pageSize
    page_size: int = 100  # smallest list page a sweep asks for (it asks up to 500)
    max_pages: int = 20  # pages one sweep reads at most
    concurrency: int = 4  # status calls in flight per channel


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    type: str
    base_url: str
    prefix: str
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    families: tuple[str, ...] = ("*",)
    models: tuple[str, ...] = ("*",)
    priority: int = 0
    weight: float = 1.0
    max_concurrent: int | None = None
    max_queue: int = 1000
    timeout: float = 3600.0  # a task must finish upstream within this many seconds of creation
    request_timeout: float = 30.0  # one HTTP call to the upstream
    download_timeout: float = 300.0  # one result file
    passthrough: bool = False
    new_standard: bool = False  # also relay new-standard tasks (v2/*) as new-standard calls
    webhook_secret: str | None = field(default=None, repr=False)  # verifies signed upstream callbacks
    callbacks: bool = True
    callback_base_url: str | None = None
    breaker_threshold: int = 3
    breaker_cooldown: float = 30.0
    busy_backoff: float = 2.0  # first pause after a 1302/1303; doubles while it repeats
    queue_recheck: float = 2.0
    poll: PollConfig = field(default_factory=PollConfig)

    def serves(self, family: str, model_name: str | None) -> bool:
        return self.refusal(family, model_name) is None

    def refusal(self, family: str, model_name: str | None) -> str | None:
        """Why the channel does not serve ``family`` with ``model_name`` (None when it does), in
        words that follow "channel 'X' ..." (the relay names them when a pinned task cannot go)."""
        if is_standard2(family) and not self.new_standard:
            return "does not relay the new standard (new_standard is off)"
        if not any(fnmatch.fnmatchcase(family, pattern) for pattern in self.families):
            return f"does not serve {family} (families: {', '.join(self.families)})"
        model = model_name or ""
        if self.models != ("*",) and not any(fnmatch.fnmatchcase(model, p) for p in self.models):
            return f"does not serve model {model or 'default'} (models: {', '.join(self.models)})"
        return None

    @property
    def uses_jwt(self) -> bool:
        return self.api_key is None and self.access_key is not None


def _secret(name: str, table: dict[str, Any], key: str) -> str | None:
    aliases = {
        "secret_key": ("secret",),
        "access_key": ("access",),
        "api_key": ("key",),
        "webhook_secret": (),
    }[key]
    for base in (key, *aliases):
        if table.get(base) not in (None, ""):
            return str(table[base])
        env = table.get(f"{base}_env")
        if env:
            value = os.environ.get(str(env))
            if not value:
                raise ChannelConfigError(f"channel '{name}': environment variable {env} ({key}) is not set")
            return value.strip()
        path = table.get(f"{base}_file")
        if path:
            try:
                return Path(str(path)).expanduser().read_text().strip()
            except OSError as exc:
                raise ChannelConfigError(
                    f"channel '{name}': cannot read {key} file {path}: {exc.strerror}"
                ) from None
    return None


def _patterns(name: str, table: dict[str, Any], key: str) -> tuple[str, ...]:
    value = table.get(key, ["*"])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ChannelConfigError(f"channel '{name}': {key} must be a non-empty list of names or globs")
    return tuple(value)


def _number(
    name: str, table: dict[str, Any], key: str, default: Any, *, kind: type = float, minimum: float = 0
) -> Any:
    value = table.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ChannelConfigError(f"channel '{name}': {key} must be a number")
    if value < minimum:
        raise ChannelConfigError(f"channel '{name}': {key} must be at least {minimum}")
    return kind(value)


_POLL_KEYS = {f for f in PollConfig.__dataclass_fields__}
_KNOWN_KEYS = {
    "name",
    "type",
    "base_url",
    "prefix",
    "families",
    "models",
    "priority",
    "weight",
    "max_concurrent",
    "max_queue",
    "timeout",
    "request_timeout",
    "download_timeout",
    "passthrough",
    "new_standard",
    "callbacks",
    "callback_base_url",
    "breaker_threshold",
    "breaker_cooldown",
    "busy_backoff",
    "queue_recheck",
    "poll",
} | {
    f"{base}{suffix}"
    for base in (*SECRET_FIELDS, "secret", "access", "key")
    for suffix in ("", "_env", "_file")
}


def parse_channel(table: dict[str, Any], index: int = 0) -> ChannelConfig:
    if not isinstance(table, dict):
        raise ChannelConfigError(f"channels[{index}] must be a table")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise ChannelConfigError(f"channels[{index}]: name is required (at most 64 characters)")
    if name in RESERVED_NAMES:
        raise ChannelConfigError(f"channel '{name}': the name is reserved for the embedded engine")
    unknown = sorted(set(table) - _KNOWN_KEYS)
    if unknown:
        raise ChannelConfigError(f"channel '{name}': unknown keys {', '.join(unknown)}")
    kind = table.get("type", "kling-compatible")
    if kind not in CHANNEL_TYPES:
        raise ChannelConfigError(f"channel '{name}': type must be one of {', '.join(CHANNEL_TYPES)}")
    base_url = table.get("base_url") or DEFAULT_BASE_URLS.get(kind)
    if not base_url or not str(base_url).startswith(("http://", "https://")):
        raise ChannelConfigError(f"channel '{name}': base_url must be an http(s) URL")
    prefix = str(table.get("prefix", DEFAULT_PREFIXES[kind]))
    prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
    access_key = _secret(name, table, "access_key")
    secret_key = _secret(name, table, "secret_key")
    api_key = _secret(name, table, "api_key")
    if api_key is None and (access_key is None or secret_key is None):
        raise ChannelConfigError(f"channel '{name}': give api_key, or access_key and secret_key")
    new_standard = bool(table.get("new_standard", False))
    if new_standard and api_key is None:
        raise ChannelConfigError(
            f"channel '{name}': new_standard needs api_key (AK/SK JWTs cannot reach new-standard paths)"
        )
    if kind == "cometapi" and api_key is None:
        raise ChannelConfigError(f"channel '{name}': a cometapi channel authenticates with api_key")
    poll_table = table.get("poll", {})
    if not isinstance(poll_table, dict) or set(poll_table) - _POLL_KEYS:
        raise ChannelConfigError(f"channel '{name}': poll accepts {', '.join(sorted(_POLL_KEYS))}")
    defaults = PollConfig()
    poll = PollConfig(
        initial=_number(name, poll_table, "initial", defaults.initial, minimum=0.01),
        factor=_number(name, poll_table, "factor", defaults.factor),
        max_interval=_number(name, poll_table, "max_interval", defaults.max_interval, minimum=0.01),
        callback_slowdown=_number(
            name, poll_table, "callback_slowdown", defaults.callback_slowdown, minimum=1
        ),
        batch_window=_number(name, poll_table, "batch_window", defaults.batch_window),
        list_queries=bool(poll_table.get("list_queries", kind != "cometapi")),
        page_size=_number(name, poll_table, "page_size", defaults.page_size, kind=int, minimum=1),
        max_pages=_number(name, poll_table, "max_pages", defaults.max_pages, kind=int, minimum=1),
        concurrency=_number(name, poll_table, "concurrency", defaults.concurrency, kind=int, minimum=1),
    )
    max_concurrent = _number(name, table, "max_concurrent", None, kind=int, minimum=1)
    return ChannelConfig(
        name=name,
        type=kind,
        base_url=str(base_url).rstrip("/"),
        prefix=prefix,
        access_key=access_key,
        secret_key=secret_key,
        api_key=api_key,
        families=_patterns(name, table, "families"),
        models=_patterns(name, table, "models"),
        priority=_number(name, table, "priority", 0, kind=int, minimum=-(10**9)),
        weight=_number(name, table, "weight", 1.0, minimum=0.0),
        max_concurrent=max_concurrent,
        max_queue=_number(name, table, "max_queue", 1000, kind=int),
        timeout=_number(name, table, "timeout", 3600.0, minimum=0.1),
        request_timeout=_number(name, table, "request_timeout", 30.0, minimum=0.05),
        download_timeout=_number(name, table, "download_timeout", 300.0, minimum=0.1),
        passthrough=bool(table.get("passthrough", False)),
        new_standard=new_standard,
        webhook_secret=_secret(name, table, "webhook_secret"),
        callbacks=bool(table.get("callbacks", True)),
        callback_base_url=(
            str(table["callback_base_url"]).rstrip("/") if table.get("callback_base_url") else None
        ),
        breaker_threshold=_number(name, table, "breaker_threshold", 3, kind=int, minimum=1),
        breaker_cooldown=_number(name, table, "breaker_cooldown", 30.0),
        busy_backoff=_number(name, table, "busy_backoff", 2.0, minimum=0.01),
        queue_recheck=_number(name, table, "queue_recheck", 2.0, minimum=0.01),
        poll=poll,
    )


def parse_channels(tables: list[dict[str, Any]]) -> list[ChannelConfig]:
    """Parse and order channels: higher ``priority`` first, then file order."""
    channels = [parse_channel(table, index) for index, table in enumerate(tables)]
    names = [c.name for c in channels]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ChannelConfigError(f"channel names must be unique: {', '.join(duplicates)}")
    return sorted(channels, key=lambda c: -c.priority)


def webhook_secrets(settings: Any) -> dict[str, str]:
    """Channel name → webhook secret, for the channels that verify signed upstream callbacks."""
    tables = getattr(settings, "channels", None) or []
    return {c.name: c.webhook_secret for c in parse_channels(tables) if c.webhook_secret}
