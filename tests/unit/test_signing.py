"""Signed, expiring result URLs."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from kling_gateway.config import Settings
from kling_gateway.storage import LocalStorage, SignatureError, result_url, signed_path, verify

SECRET = "s3cret-for-tests"
TTL = 3600
NOW = 1_800_000_123.0


def parts(path: str) -> tuple[str, str, str]:
    url = urlsplit(path)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.path.startswith("/files/")
    return url.path.removeprefix("/files/"), query["expires"], query["signature"]


def test_valid_url_verifies():
    key, expires, signature = parts(signed_path("task-1/video-0.mp4", SECRET, TTL, now=NOW))
    assert key == "task-1/video-0.mp4"
    verify(key, expires, signature, SECRET, now=NOW)
    verify(key, int(expires), signature, SECRET, now=int(expires) - 1)


def test_lifetime_between_ttl_and_125_percent():
    for offset in range(0, 2 * TTL, 97):
        now = NOW + offset
        _key, expires, _sig = parts(signed_path("k", SECRET, TTL, now=now))
        assert TTL <= int(expires) - now < 1.25 * TTL


def test_stable_within_a_bucket_and_changes_after():
    first = signed_path("t/v.mp4", SECRET, TTL, now=NOW)
    _k, expires, _s = parts(first)
    bucket_start = int(expires) - TTL - TTL // 4  # the earliest "now" giving this expiry (exclusive)
    same = [signed_path("t/v.mp4", SECRET, TTL, now=t) for t in (bucket_start + 1, NOW, int(expires) - TTL)]
    assert same == [first] * 3
    assert signed_path("t/v.mp4", SECRET, TTL, now=int(expires) - TTL + 1) != first


def test_tampered_key_refused():
    _key, expires, signature = parts(signed_path("task-1/video-0.mp4", SECRET, TTL, now=NOW))
    with pytest.raises(SignatureError) as err:
        verify("task-2/video-0.mp4", expires, signature, SECRET, now=NOW)
    assert "invalid signature" in str(err.value) and not err.value.expired


def test_tampered_expiry_refused():
    key, expires, signature = parts(signed_path("k/a.png", SECRET, TTL, now=NOW))
    with pytest.raises(SignatureError, match="invalid signature"):
        verify(key, int(expires) + 86400, signature, SECRET, now=NOW)
    with pytest.raises(SignatureError, match="invalid signature"):
        verify(key, "soon", signature, SECRET, now=NOW)


def test_other_secret_or_garbage_refused():
    key, expires, signature = parts(signed_path("k/a.png", SECRET, TTL, now=NOW))
    for sig in (signature[:-1] + ("A" if signature[-1] != "A" else "B"), "", "é"):
        with pytest.raises(SignatureError):
            verify(key, expires, sig, SECRET, now=NOW)
    with pytest.raises(SignatureError):
        verify(key, expires, signature, "another-secret", now=NOW)
    with pytest.raises(SignatureError, match="missing"):
        verify(key, None, signature, SECRET, now=NOW)


def test_expired_refused_and_said_so():
    key, expires, signature = parts(signed_path("k/a.png", SECRET, TTL, now=NOW))
    with pytest.raises(SignatureError) as err:
        verify(key, expires, signature, SECRET, now=int(expires))
    assert err.value.expired and "expired" in str(err.value)


def test_key_is_quoted_in_path():
    path = signed_path("t/a file#1.png", SECRET, TTL, now=NOW)
    assert path.startswith("/files/t/a%20file%231.png?")


async def test_result_url_for_local_storage(tmp_path):
    settings = Settings(data_dir=tmp_path, url_secret=SECRET, public_base_url="https://gw.example/")
    url = await result_url(LocalStorage(tmp_path), "t/v.mp4", settings, now=NOW)
    assert url == "https://gw.example" + signed_path("t/v.mp4", SECRET, settings.url_ttl_seconds, now=NOW)
