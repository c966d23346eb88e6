"""``kling-gateway doctor``: check an install and say what to fix.

Each check answers OK, WARN (works, with a limit worth knowing) or FAIL (something the gateway
needs is missing or broken). Nothing is created: the store is only opened if it exists.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .config import Settings

Level = Literal["OK", "WARN", "FAIL"]
CLOCK_SKEW_WARN_S = 5.0  # the gateway's JWT leeway; a client further off sees 1004/1005 errors


@dataclass(frozen=True)
class Check:
    level: Level
    name: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.level:<4} {self.name}: {self.detail}"
        return text + (f"\n       fix: {self.fix}" if self.fix else "")


def check_codecs() -> list[Check]:
    """The reference engine encodes H.264 + AAC in MP4 and MP3 with PyAV's bundled FFmpeg."""
    try:
        av = importlib.import_module("av")
    except ImportError as exc:
        return [Check("FAIL", "PyAV", f"cannot import av ({exc})", "pip install 'av>=12'")]
    out = [Check("OK", "PyAV", f"av {av.__version__}, FFmpeg libraries bundled")]
    wanted = {
        "libx264": "H.264 video (every video family)",
        "aac": "AAC audio in MP4 (videos with sound)",
        "libmp3lame": "MP3 (text-to-audio, video-to-audio; WAV needs no encoder)",
    }
    for codec, use in wanted.items():
        try:
            av.codec.Codec(codec, "w")
        except Exception:
            out.append(
                Check(
                    "FAIL",
                    f"encoder {codec}",
                    f"missing; needed for {use}",
                    "install the PyPI wheel of av (it bundles an FFmpeg with these encoders), "
                    "not a build against a system FFmpeg without them",
                )
            )
        else:
            out.append(Check("OK", f"encoder {codec}", use))
    return out


def check_tools() -> list[Check]:
    out = []
    espeak = shutil.which("espeak-ng")
    if espeak:
        out.append(Check("OK", "espeak-ng", f"{espeak} (lip-sync text2video speech)"))
    else:
        out.append(
            Check(
                "WARN",
                "espeak-ng",
                "not on PATH: lip-sync in text2video mode fails with a clear task_status_msg; "
                "audio2video lip-sync and every other family work",
                "apt-get install espeak-ng (or brew install espeak-ng)",
            )
        )
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        out.append(Check("OK", "ffmpeg", f"{ffmpeg} (optional; handy to inspect results)"))
    else:
        out.append(
            Check(
                "OK",
                "ffmpeg",
                "not on PATH; not needed (PyAV bundles FFmpeg's libraries); "
                "install it only to inspect results with ffprobe",
            )
        )
    return out


async def check_database(settings: Settings) -> list[Check]:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.ext.asyncio import create_async_engine

    from .store.database import MIGRATIONS_DIR
    from .store_info import shown_url, sqlite_file

    url = settings.resolved_database_url
    name = f"database {shown_url(url)}"
    sqlite = sqlite_file(settings)
    if sqlite is not None and not sqlite.exists():
        return [
            Check(
                "WARN",
                name,
                "no store yet (nothing was created)",
                "kling-gateway serve (or migrate) creates it; or point --data-dir at the existing one",
            )
        ]
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    heads = set(script.get_heads())
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(lambda c: set(MigrationContext.configure(c).get_current_heads()))
    except Exception as exc:
        return [
            Check(
                "FAIL",
                name,
                f"unreachable: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                "start the database server, check the URL, user and password",
            )
        ]
    finally:
        await engine.dispose()
    if current == heads:
        return [Check("OK", name, f"reachable, migrations current ({', '.join(sorted(heads))})")]
    return [
        Check(
            "FAIL",
            name,
            f"migrations at {', '.join(sorted(current)) or 'none'}, code expects {', '.join(sorted(heads))}",
            "kling-gateway migrate (serve also migrates on start)",
        )
    ]


async def check_storage(settings: Settings) -> list[Check]:
    if settings.storage_url and settings.storage_url.startswith("s3://"):
        from .storage.factory import create_storage

        storage = create_storage(settings)
        key = f"doctor/{int(time.time() * 1000)}.txt"
        try:
            await storage.put_bytes(key, b"kling-gateway doctor", "text/plain")
            await storage.delete_prefix("doctor/")
        except Exception as exc:
            return [
                Check(
                    "FAIL",
                    f"storage {settings.storage_url}",
                    f"cannot write: {type(exc).__name__}: {str(exc)[:200]}",
                    "check the bucket, endpoint and credentials (storage_* settings / AWS_* variables)",
                )
            ]
        return [Check("OK", f"storage {settings.storage_url}", "writable")]
    from .storage.factory import create_storage
    from .storage.local import LocalStorage

    storage = create_storage(settings)
    root = Path(getattr(storage, "root", settings.results_dir)) if isinstance(storage, LocalStorage) else None
    target = root if root is not None else settings.results_dir
    probe_dir = target
    while not probe_dir.exists() and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent  # what would hold it once created
    try:
        with tempfile.NamedTemporaryFile(dir=probe_dir, prefix=".kg-doctor-"):
            pass
    except OSError as exc:
        return [
            Check(
                "FAIL",
                f"storage {target.resolve()}",
                f"not writable: {exc.strerror or exc}",
                "give the gateway's user write access, or set storage_url / --data-dir elsewhere",
            )
        ]
    state = "writable" if target.exists() else f"not created yet; {probe_dir.resolve()} is writable"
    return [Check("OK", f"storage {target.resolve()}", state)]


def _channels(settings: Settings) -> tuple[list[Any], Check | None]:
    try:
        from .engines.relay.channels import parse_channels

        return list(parse_channels(settings.channels)), None
    except ValueError as exc:
        return [], Check("FAIL", "channels", str(exc), "fix the [[channels]] tables in the config file")


async def check_channels(settings: Settings, timeout: float = 5.0) -> list[Check]:
    import httpx

    if not settings.channels:
        return [Check("OK", "relay channels", "none configured (the reference engine serves every task)")]
    channels, problem = _channels(settings)
    if problem is not None:
        return [problem]
    out: list[Check] = []
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        for channel in channels:
            started = time.time()
            try:
                response = await client.get(channel.base_url)
            except httpx.HTTPError as exc:
                out.append(
                    Check(
                        "FAIL",
                        f"channel {channel.name}",
                        f"{channel.base_url} unreachable: {type(exc).__name__}",
                        "check base_url, DNS, proxy and firewall from this host",
                    )
                )
                continue
            out.append(
                Check(
                    "OK",
                    f"channel {channel.name}",
                    f"{channel.base_url} answers (HTTP {response.status_code})",
                )
            )
            out.append(clock_check(response.headers.get("date"), started, f"clock vs {channel.name}"))
    return out


def clock_check(date_header: str | None, local_time: float, name: str) -> Check:
    """Compare the local clock with a server's ``Date``: JWTs carry exp/nbf, checked with a 5 s leeway."""
    if not date_header:
        return Check("OK", name, "the upstream sent no Date header; cannot compare clocks")
    try:
        remote = email.utils.parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError):
        return Check("OK", name, f"unparsable Date header {date_header!r}")
    skew = local_time - remote
    if abs(skew) > CLOCK_SKEW_WARN_S:
        return Check(
            "WARN",
            name,
            f"this clock is {skew:+.0f} s off the upstream's; Kling JWTs minted here may be refused "
            "(exp/nbf), and clients' tokens checked here may be too",
            "run NTP (systemd-timesyncd, chrony)",
        )
    return Check("OK", name, f"within {abs(skew):.0f} s (JWT exp/nbf are safe)")


async def run_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    steps: list[Callable[[], Any]] = [
        lambda: check_codecs(),
        lambda: check_tools(),
        lambda: check_database(settings),
        lambda: check_storage(settings),
        lambda: check_channels(settings),
    ]
    for step in steps:
        result = step()
        checks.extend(await result if asyncio.iscoroutine(result) else result)
    return checks
