"""Result storage back ends and signed URLs."""

from .base import ObjectInfo, Presigner, Storage, StoredObject
from .factory import create_storage
from .local import LocalStorage
from .s3 import ObjectStorage
from .serve import file_response
from .signing import SignatureError, result_url, signed_path, verify

__all__ = [
    "LocalStorage",
    "ObjectInfo",
    "ObjectStorage",
    "Presigner",
    "SignatureError",
    "Storage",
    "StoredObject",
    "create_storage",
    "file_response",
    "result_url",
    "signed_path",
    "verify",
]
