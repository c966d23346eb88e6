"""The render process pool, made so that its processes never outlive the gateway.

A gateway killed with ``kill -9`` runs no cleanup, so its pool workers would carry on rendering as
orphans (about 100 MB each) and its temp dirs would stay. Each worker therefore asks Linux to kill
it when its parent dies (``PR_SET_PDEATHSIG``) and, where that is not available, a thread in the
worker exits as soon as the parent is gone. Temp dirs carry their owner's pid in their name
(``kling-ref-<pid>-…``), so the next start removes those whose owner is dead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

TEMP_PREFIX = "kling-ref-"
PR_SET_PDEATHSIG = 1
PARENT_CHECK_S = 1.0


def make_pool(workers: int, niceness: int = 0) -> ProcessPoolExecutor:
    """``niceness``: added to each render process's nice value, so that a render never takes the
    CPU from the API answering queries (the query is what clients hit in a loop)."""
    # spawn: never fork a process that already runs an event loop and threads
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=worker_init,
        initargs=(os.getpid(), niceness),
    )


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Linux only: have the kernel send ``sig`` to this process when its parent dies."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return bool(libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def worker_init(parent_pid: int, niceness: int = 0) -> None:
    """Pool initializer: die with the parent (signal, plus a watching thread as the fallback), and
    run at the given lower CPU priority."""
    if niceness:
        os.nice(niceness)
    set_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()


def make_temp_dir() -> str:
    """A fresh dir for one render, named after this process so a later start can tell it is stale."""
    return tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def owner_pid(name: str) -> int | None:
    rest = name[len(TEMP_PREFIX) :] if name.startswith(TEMP_PREFIX) else ""
    pid, sep, _ = rest.partition("-")
    return int(pid) if sep and pid.isdigit() else None


def clean_stale_temp_dirs(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Remove ``kling-ref-<pid>-*`` dirs whose owner process is gone; returns what was removed."""
    base = Path(root or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(base.iterdir())
    except OSError:
        return removed
    for entry in entries:
        pid = owner_pid(entry.name)
        if pid is None or pid == os.getpid() or _alive(pid) or not entry.is_dir():
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if not entry.exists():
            removed.append(entry)
    return removed
