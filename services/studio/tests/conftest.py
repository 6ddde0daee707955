"""Fixtures shared by the studio service's tests.

Integration tests get a fresh PostgreSQL database per test run (migrated by the real
migrations, emptied between tests) and randomly named RabbitMQ exchanges and queues.
With ``CI=true`` an unreachable PostgreSQL or RabbitMQ fails the tests instead of skipping them.
"""

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from oryx_studio.config import SERVICE_ROOT
from oryx_studio.infrastructure.database.engine import (
    async_url,
    create_engine,
    session_factory,
    upgrade,
)
from oryx_studio.infrastructure.database.tables import metadata

POSTGRES_URL = os.environ.get(
    "ORYX_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RABBITMQ_URL = os.environ.get("ORYX_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unreachable(what: str, exc: BaseException) -> None:
    message = f"{what} is unreachable: {exc!r}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: integration tests fail instead of skipping)")
    pytest.skip(message)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A fresh database for this test run, migrated to head; dropped at the end."""
    name = f"oryx_studio_test_{secrets.token_hex(4)}"
    admin = create_async_engine(async_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        await admin.dispose()
        unreachable("PostgreSQL", exc)
    url = async_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url, pool_size=1)
    await upgrade(engine, SERVICE_ROOT / "migrations")
    await engine.dispose()
    yield url
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def sessions(engine: AsyncEngine):  # type: ignore[no-untyped-def]
    """A session factory on an emptied database: every test starts from zero rows."""
    async with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        await conn.execute(text(f"TRUNCATE {names} CASCADE"))
    return session_factory(engine)


@pytest.fixture(scope="session")
async def rabbitmq_url() -> str:
    """The broker URL, once it answers."""
    import aio_pika

    try:
        connection = await asyncio.wait_for(aio_pika.connect(RABBITMQ_URL), timeout=10)
    except Exception as exc:
        unreachable("RabbitMQ", exc)
    await connection.close()
    return RABBITMQ_URL


@pytest.fixture
def random_name() -> str:
    """A unique prefix for exchanges and queues of one test."""
    return f"oryx.test.{secrets.token_hex(4)}"


# the authorization service, as a real process ---------------------------------------------


@dataclass
class AuthorizationServer:
    """A running authorization service, with helpers to set up people and projects."""

    url: str
    admin_password: str

    async def login(self, username: str, password: str) -> str:
        async with httpx.AsyncClient(base_url=self.url) as client:
            response = await client.post(
                "/authorization/login", json={"username": username, "password": password}
            )
            assert response.status_code == 200, response.text
            return str(response.json()["access_token"])

    async def admin_token(self) -> str:
        return await self.login("admin", self.admin_password)

    async def new_project(self, name: str) -> str:
        token = await self.admin_token()
        async with httpx.AsyncClient(base_url=self.url) as client:
            response = await client.post(
                "/authorization/projects",
                json={"name": name},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 201, response.text
            return str(response.json()["id"])

    async def new_member(self, username: str, *, project_id: str, role: str) -> str:
        """A user with ``role`` in the project (and as platform role); returns a token."""
        token = await self.admin_token()
        headers = {"Authorization": f"Bearer {token}"}
        password = f"{username}-password"
        async with httpx.AsyncClient(base_url=self.url, headers=headers) as client:
            response = await client.post(
                "/authorization/users",
                json={"username": username, "password": password, "role": role},
            )
            assert response.status_code == 201, response.text
            user_id = response.json()["id"]
            response = await client.post(
                f"/authorization/projects/{project_id}/members",
                json={"user_id": user_id, "role": role},
            )
            assert response.status_code == 201, response.text
        return await self.login(username, password)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
async def authorization_server() -> AsyncIterator[AuthorizationServer]:
    """``python -m oryx_authorization`` on a free port and a database of its own."""
    name = f"oryx_authorization_for_studio_{secrets.token_hex(4)}"
    url = async_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    port = _free_port()
    password = "admin-password-for-studio-tests"
    env = {
        **os.environ,
        "ORYX_AUTHORIZATION_DATABASE_URL": url,
        "ORYX_ADMIN_PASSWORD": password,
        "ORYX_AUTHORIZATION_LOG_LEVEL": "warning",
    }
    env.pop("ORYX_AUTHORIZATION_BROKER_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "oryx_authorization", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                if process.poll() is not None:
                    output = process.stdout.read().decode() if process.stdout else ""
                    unreachable("the authorization service", RuntimeError(output[-2000:]))
                try:
                    if (await client.get(f"{base}/authorization/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        yield AuthorizationServer(url=base, admin_password=password)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        admin = create_async_engine(async_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
