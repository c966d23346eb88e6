"""HTTP layer: routes, auth dependency, error handlers, request ids."""

from .app import create_app

__all__ = ["create_app"]
