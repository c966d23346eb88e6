"""kling-gateway: a self-hostable gateway that speaks the Kling media-generation API."""

__version__ = "0.1.0"
