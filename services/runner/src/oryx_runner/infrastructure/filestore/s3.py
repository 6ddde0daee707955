"""The filestore on S3 (MinIO in production, SeaweedFS in tests), through the ``minio`` client.

The client is synchronous: every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from oryx_runner.application.filestore import (
    FileNotFoundInStore,
    check_expiry,
    check_key,
    folder_prefix,
)

_NOT_FOUND = ("NoSuchKey", "NoSuchObject", "ResourceNotFound")


class FilestoreError(RuntimeError):
    """The S3 server refused an operation (bad credentials, missing bucket, ...)."""


class S3Filestore:
    """Objects of one bucket; ``start()`` creates the bucket when it is missing."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        secure: bool = False,
        region: str | None = None,
    ) -> None:
        self.bucket = bucket
        self._client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
        )

    async def start(self) -> None:
        await asyncio.to_thread(self._ensure_bucket)

    def _ensure_bucket(self) -> None:
        try:
            if not self._client.bucket_exists(self.bucket):
                self._client.make_bucket(self.bucket)
        except S3Error as exc:
            # Another replica may have created it between our two calls.
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise FilestoreError(
                    f"cannot use the bucket {self.bucket!r}: {exc.code}: {exc.message}"
                ) from exc

    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        check_key(key)
        await asyncio.to_thread(
            self._client.put_object,
            self.bucket,
            key,
            io.BytesIO(data),
            len(data),
            content_type=content_type,
        )

    async def get(self, key: str) -> bytes:
        check_key(key)
        return await asyncio.to_thread(self._get, key)

    def _get(self, key: str) -> bytes:
        try:
            response = self._client.get_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in _NOT_FOUND:
                raise FileNotFoundInStore(key) from None
            raise
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    async def delete(self, key: str) -> None:
        check_key(key)
        # S3 answers a delete of a missing object with success.
        await asyncio.to_thread(self._client.remove_object, self.bucket, key)

    async def delete_prefix(self, prefix: str) -> int:
        return await asyncio.to_thread(self._delete_prefix, folder_prefix(prefix))

    def _delete_prefix(self, prefix: str) -> int:
        names = [
            item.object_name
            for item in self._client.list_objects(self.bucket, prefix=prefix, recursive=True)
            if item.object_name is not None and not item.is_dir
        ]
        # remove_objects is lazy: the deletes happen while its errors are read.
        errors = list(
            self._client.remove_objects(self.bucket, (DeleteObject(name) for name in names))
        )
        if errors:
            details = ", ".join(f"{error.name}: {error.code}" for error in errors[:5])
            raise FilestoreError(
                f"{len(errors)} of {len(names)} objects under {prefix!r} were not deleted"
                f" ({details})"
            )
        return len(names)

    async def exists(self, key: str) -> bool:
        check_key(key)
        return await asyncio.to_thread(self._exists, key)

    def _exists(self, key: str) -> bool:
        try:
            self._client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in _NOT_FOUND:
                return False
            raise
        return True

    async def presign_get(self, key: str, *, expires: timedelta) -> str:
        check_key(key)
        check_expiry(expires)
        # May ask the server for the bucket's region once, hence the thread.
        return await asyncio.to_thread(
            self._client.presigned_get_object, self.bucket, key, expires=expires
        )

    async def presign_put(self, key: str, *, expires: timedelta) -> str:
        check_key(key)
        check_expiry(expires)
        return await asyncio.to_thread(
            self._client.presigned_put_object, self.bucket, key, expires=expires
        )
