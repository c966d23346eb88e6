"""Encryption at rest for secrets the gateway must read back (JWT secret keys, webhook secrets).

API keys are only ever stored as SHA-256 hashes; secret keys must be recoverable to verify
HS256 signatures, so they are sealed with Fernet under a master key that lives outside the
database (``KLING_GATEWAY_MASTER_KEY`` or ``<data_dir>/master-key``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet

from .fsmodes import create_private_file, private_dir


def load_master_key(data_dir: Path) -> bytes:
    env = os.environ.get("KLING_GATEWAY_MASTER_KEY")
    if env:
        return env.encode()
    path = data_dir / "master-key"
    if path.exists():
        return path.read_bytes().strip()
    create_private_file(private_dir(data_dir) / "master-key", Fernet.generate_key())
    return path.read_bytes().strip()  # another process may have won the race: read what is there


class SecretBox:
    def __init__(self, master_key: bytes):
        self._fernet = Fernet(master_key)

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, token: str) -> str:
        return self._fernet.decrypt(token.encode()).decode()


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()
