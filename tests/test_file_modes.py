"""Private file modes (issue #13 item 8): the data dir is 0700; the store, the secrets and the
results are 0600 from the moment they exist; an old 0755 data dir is tightened."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from inprocess import in_process


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> object:
    old = os.umask(0o022)  # the usual umask: what a plain write would give 0644 / 0755
    yield
    os.umask(old)


async def test_data_dir_store_secrets_and_results_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with in_process(data) as gw:
        await gw.account()
        stored = await gw.gateway.storage.put_bytes("t/1/out.mp4", b"\x00" * 10, "video/mp4")
        assert stored is not None
    assert mode(data) == 0o700
    for name in ("gateway.sqlite3", "url-secret", "master-key"):
        assert mode(data / name) == 0o600, name
    for extra in data.glob("gateway.sqlite3-*"):  # -wal / -shm, when left behind
        assert mode(extra) == 0o600, extra.name
    result = data / "results" / "t" / "1" / "out.mp4"
    assert result.read_bytes() == b"\x00" * 10 and mode(result) == 0o600


async def test_an_existing_open_data_dir_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "old"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    async with in_process(data):
        pass
    assert mode(data) == 0o700
