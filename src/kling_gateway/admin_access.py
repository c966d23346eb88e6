"""The one check for operator (admin) requests: ``Authorization: Bearer <admin_token>``.

The admin token is a setting, not an account: it never appears in the accounts table, so no
client key can be promoted to it, and with no token configured every admin request is refused.
"""

from __future__ import annotations

import hmac

__all__ = ["bearer_token", "is_admin"]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def is_admin(authorization: str | None, admin_token: str | None) -> bool:
    """True when the header carries the configured admin token (constant-time compare)."""
    token = bearer_token(authorization)
    if token is None or not admin_token:
        return False
    return hmac.compare_digest(token.encode(), admin_token.encode())
