"""Result storage back ends and signed URLs."""

from .base import Storage, StoredObject

__all__ = ["Storage", "StoredObject"]
