"""What only the S3 filestore does: its bucket and its credentials."""

import secrets
from datetime import timedelta

import pytest
from minio import Minio

from oryx_repository.infrastructure.filestore.s3 import FilestoreError, S3Filestore

from ...s3_server import S3Server


def s3_filestore_on(server: S3Server, bucket: str) -> S3Filestore:
    return S3Filestore(
        server.endpoint, server.access_key, server.secret_key, bucket, region=server.region
    )


async def test_start_creates_the_missing_bucket_once(s3_server: S3Server) -> None:
    bucket = f"oryx-new-{secrets.token_hex(4)}"
    client = Minio(
        s3_server.endpoint,
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key,
        secure=False,
        region=s3_server.region,
    )
    assert not client.bucket_exists(bucket)

    first = s3_filestore_on(s3_server, bucket)
    await first.start()
    await first.put("projects/p1/a", b"kept")
    second = s3_filestore_on(s3_server, bucket)
    await second.start()

    assert client.bucket_exists(bucket)
    assert await second.get("projects/p1/a") == b"kept"


async def test_wrong_credentials_fail_at_start(s3_server: S3Server) -> None:
    filestore = S3Filestore(
        s3_server.endpoint,
        s3_server.access_key,
        "not-the-secret",
        "oryx-forbidden",
        region=s3_server.region,
    )

    with pytest.raises(FilestoreError, match="oryx-forbidden"):
        await filestore.start()


async def test_without_a_region_the_client_asks_the_server(s3_server: S3Server) -> None:
    filestore = S3Filestore(
        s3_server.endpoint,
        s3_server.access_key,
        s3_server.secret_key,
        f"oryx-region-{secrets.token_hex(4)}",
    )
    await filestore.start()
    await filestore.put("projects/p1/a", b"x")

    url = await filestore.presign_get("projects/p1/a", expires=timedelta(minutes=1))

    assert url.startswith(f"{s3_server.url}/")
