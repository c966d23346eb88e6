"""Private file modes for everything the gateway writes to disk: directories 0700, files 0600.

The data dir holds the SQLite store, the master key, the URL-signing secret and the results;
none of it is for other local users. Files are created with their final mode (``O_EXCL`` with
0600), never written first and chmod-ed after."""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) as 0700; an existing dir of ours is tightened to 0700."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(DIR_MODE)
    return path


def create_private_file(path: Path, data: bytes = b"") -> bool:
    """Create ``path`` as 0600 holding ``data``; False (nothing written) when it already exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return True
