"""Python SDK for the Kling API as kling-gateway (or Kling, or CometAPI) serves it.

>>> from kling_gateway.client import KlingClient
>>> with KlingClient("http://127.0.0.1:8000", api_key="...") as kling:
...     task = kling.text2video(prompt="a red fox in snow", duration="5")
...     done = kling.wait(task)
...     kling.download(done, "fox.mp4")

See ``docs/client.md``.
"""

from ..schemas import CreatedTask, Task
from .aio import AsyncKlingClient
from .auth import AccessKeyJWT, ApiKey, Credentials
from .core import PollPolicy
from .download import ResultFile, result_files
from .errors import (
    AccountError,
    AuthenticationError,
    ClientValidationError,
    ConfigurationError,
    DownloadError,
    InvalidRequestError,
    KlingAPIError,
    KlingClientError,
    MissingCredentialsError,
    NetworkError,
    PolicyError,
    ServerError,
    TaskFailedError,
    WaitTimeoutError,
)
from .layout import Endpoint, Layout, resolve
from .requests import encode_media
from .sync import KlingClient
from .transport import RetryPolicy

__all__ = [
    "AccessKeyJWT",
    "AccountError",
    "ApiKey",
    "AsyncKlingClient",
    "AuthenticationError",
    "ClientValidationError",
    "ConfigurationError",
    "CreatedTask",
    "Credentials",
    "DownloadError",
    "Endpoint",
    "InvalidRequestError",
    "KlingAPIError",
    "KlingClient",
    "KlingClientError",
    "Layout",
    "MissingCredentialsError",
    "NetworkError",
    "PolicyError",
    "PollPolicy",
    "ResultFile",
    "RetryPolicy",
    "ServerError",
    "Task",
    "TaskFailedError",
    "WaitTimeoutError",
    "encode_media",
    "resolve",
    "result_files",
]
