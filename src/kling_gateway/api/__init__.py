"""HTTP layer: routes, auth dependency, error handlers, request ids."""

from .app import GatewayApp, create_app

__all__ = ["GatewayApp", "create_app"]
