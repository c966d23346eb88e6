"""HTTPS on the gateway's own port: ``ssl_certfile`` / ``ssl_keyfile`` handed to uvicorn.

Most deployments terminate TLS at a proxy; this is for the rest: a single box without one, and
clients that insist on ``https://`` base URLs (several third-party Kling SDKs refuse anything
else, even on loopback). The files are checked before the server starts so a wrong path or a key
that does not match the certificate is one clear line, not a traceback from inside uvicorn.
"""

from __future__ import annotations

import ssl
from typing import Any

from .config import Settings


def tls_problem(settings: Settings) -> str | None:
    """Why the configured certificate and key cannot serve HTTPS; None when they can (or are unset)."""
    cert, key = settings.ssl_certfile, settings.ssl_keyfile
    if cert is None:
        return (
            "ssl_keyfile is set but ssl_certfile is not (give both, or a certfile holding the key)"
            if key
            else None
        )
    for name, path in (("ssl_certfile", cert), ("ssl_keyfile", key)):
        if path is not None and not path.is_file():
            return f"{name}: {path} is not a readable file"
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        shown = f"{cert}" + (f" with key {key}" if key else "")
        return f"ssl_certfile: cannot load {shown}: {exc}"
    return None


def tls_options(settings: Settings) -> dict[str, Any]:
    """The ``uvicorn.run`` keywords for HTTPS; empty (plain HTTP) when no certificate is set."""
    if settings.ssl_certfile is None:
        return {}
    options: dict[str, Any] = {"ssl_certfile": str(settings.ssl_certfile)}
    if settings.ssl_keyfile is not None:
        options["ssl_keyfile"] = str(settings.ssl_keyfile)
    return options
