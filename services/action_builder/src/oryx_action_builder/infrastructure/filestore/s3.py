"""The S3 filestore (MinIO in production, any S3 server), through the ``minio`` client.

The client is synchronous: its calls run in a worker thread.
"""

import asyncio
import contextlib
from pathlib import Path
from urllib.parse import urlsplit

from minio import Minio
from minio.error import MinioException

from oryx_action_builder.application.ports import SourceUnavailable
from oryx_action_builder.infrastructure.filestore.local import DEFAULT_MAX_BYTES


def client(
    *,
    endpoint: str,
    access_key: str,
    secret_key: str,
    region: str | None = None,
    secure: bool | None = None,
) -> Minio:
    """A client of ``endpoint``: ``host:port`` or a URL, whose scheme then decides TLS."""
    parts = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
    if secure is None:
        secure = parts.scheme == "https"
    return Minio(
        parts.netloc,
        access_key=access_key,
        secret_key=secret_key,
        region=region or None,
        secure=secure,
    )


class MinioSourceStore:
    def __init__(self, client: Minio, *, bucket: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._client = client
        self._bucket = bucket
        self._max_bytes = max_bytes

    async def download(self, *, key: str, destination: Path) -> None:
        await asyncio.to_thread(self._download, key, destination)

    def _download(self, key: str, destination: Path) -> None:
        try:
            size = self._client.stat_object(self._bucket, key).size or 0
            if size > self._max_bytes:
                raise SourceUnavailable(f"{key!r} is {size} bytes, more than {self._max_bytes}")
            self._client.fget_object(self._bucket, key, str(destination))
        except SourceUnavailable:
            raise
        except MinioException as exc:  # S3Error (NoSuchKey, AccessDenied...), server errors
            raise SourceUnavailable(f"{self._bucket}/{key}: {exc}") from exc
        except Exception as exc:  # the network (urllib3's errors), a bad key, the local disk
            with contextlib.suppress(OSError):
                destination.unlink(missing_ok=True)
            raise SourceUnavailable(f"{self._bucket}/{key}: {exc!r}") from exc
