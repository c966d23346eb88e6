"""Pick the storage back end from settings.

``storage_url`` unset: a local directory, ``settings.results_dir``. ``s3://bucket[/prefix]``:
S3-compatible storage configured by the ``storage_*`` settings. ``file:///path`` or a plain
path: a local directory there.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from .base import Storage
from .local import LocalStorage
from .s3 import ObjectStorage

if TYPE_CHECKING:
    from ..config import Settings


def create_storage(settings: Settings) -> Storage:
    url: str | None = settings.storage_url
    if not url:
        return LocalStorage(settings.results_dir)
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"storage_url {url!r} names no bucket")
        return ObjectStorage(
            parts.netloc,
            prefix=parts.path.strip("/") or None,
            endpoint=settings.storage_endpoint,
            region=settings.storage_region,
            access_key=settings.storage_access_key,
            secret_key=settings.storage_secret_key,
            allow_http=settings.storage_allow_http,
        )
    if parts.scheme == "file":
        return LocalStorage(Path(unquote(parts.path)))
    if not parts.scheme or len(parts.scheme) == 1:  # a path (a Windows drive letter reads as a scheme)
        return LocalStorage(Path(url))
    raise ValueError(f"storage_url {url!r}: unsupported scheme {parts.scheme!r} (use s3:// or a path)")
