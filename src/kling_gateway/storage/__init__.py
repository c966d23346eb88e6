"""Result storage back ends and signed URLs."""

from .base import Storage, StoredObject
from .factory import create_storage
from .local import LocalStorage, ObjectInfo
from .s3 import ObjectStorage
from .serve import file_response
from .signing import SignatureError, result_url, signed_path, verify

__all__ = [
    "LocalStorage",
    "ObjectInfo",
    "ObjectStorage",
    "SignatureError",
    "Storage",
    "StoredObject",
    "create_storage",
    "file_response",
    "result_url",
    "signed_path",
    "verify",
]
