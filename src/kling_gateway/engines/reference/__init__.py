"""The offline reference engine: deterministic, classic-graphics media in Kling's shapes."""

from .engine import ReferenceEngine

__all__ = ["ReferenceEngine"]
