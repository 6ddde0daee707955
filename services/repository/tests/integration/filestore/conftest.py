"""Fixtures of the filestore tests: both adapters, each on its real backend.

- ``s3``: ``S3Filestore`` on the SeaweedFS server of the ``s3_server`` fixture (one bucket
  per session).
- ``local``: ``LocalFolderFilestore`` in a temporary folder, its presigned URLs answered by
  ``local_files_router`` served by uvicorn on a free port of 127.0.0.1.

Both are shared by the session; each test works under keys of its own (``keys``).
"""

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from oryx_repository.application.filestore import Filestore
from oryx_repository.infrastructure.filestore.local import (
    LocalFolderFilestore,
    local_files_router,
)
from oryx_repository.infrastructure.filestore.s3 import S3Filestore

# The ``s3_server`` fixture comes from ``tests/conftest.py``, which imports it from
# ``tests/s3_server.py`` for every test of the service. Importing it here too would make a
# second fixture definition, and a run of the whole suite would start two servers.
from ...s3_server import S3Server


def s3_filestore_on(server: S3Server, bucket: str) -> S3Filestore:
    return S3Filestore(
        server.endpoint,
        server.access_key,
        server.secret_key,
        bucket,
        secure=False,
        region=server.region,
    )


@pytest.fixture(scope="session")
async def session_s3_filestore(s3_server: S3Server) -> S3Filestore:
    filestore = s3_filestore_on(s3_server, f"oryx-filestore-{secrets.token_hex(4)}")
    await filestore.start()
    return filestore


class UvicornOnFreePort:
    """An ASGI app served by uvicorn inside the test's event loop, on 127.0.0.1."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def serve(self, app: FastAPI) -> None:
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self.socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self.socket.close()


@pytest.fixture(scope="session")
async def session_local_filestore(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[LocalFolderFilestore]:
    server = UvicornOnFreePort()
    filestore = LocalFolderFilestore(
        tmp_path_factory.mktemp("local-filestore"),
        public_base_url=server.url,
        signing_key=secrets.token_bytes(32),
    )
    await filestore.start()
    app = FastAPI()
    app.include_router(local_files_router(filestore))
    await server.serve(app)
    yield filestore
    await server.stop()


@pytest.fixture(params=["s3", "local"])
def filestore(
    request: pytest.FixtureRequest,
) -> Filestore:
    """Each contract test runs once per adapter."""
    name = "session_s3_filestore" if request.param == "s3" else "session_local_filestore"
    store: Filestore = request.getfixturevalue(name)
    return store


@pytest.fixture
def keys() -> str:
    """A folder of keys for one test: ``projects/<random id>/``."""
    return f"projects/{uuid4()}/"


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client such as an action would use on a presigned URL (no proxy from env)."""
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        yield client
