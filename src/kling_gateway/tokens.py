"""Minting Kling's self-signed JWT (spec §2.1); shared by the client SDK, the relay and tests.

Kept apart from ``auth`` so the client can mint tokens without importing the server's store.
"""

from __future__ import annotations

import time

import jwt


def mint_jwt(access_key: str, secret_key: str, *, ttl: int = 1800, now: float | None = None) -> str:
    """A Kling-style token as the official sample builds it (iss, exp = now+ttl, nbf = now-5)."""
    now = time.time() if now is None else now
    payload = {"iss": access_key, "exp": int(now) + ttl, "nbf": int(now) - 5}
    return jwt.encode(payload, secret_key, algorithm="HS256", headers={"typ": "JWT"})
