"""Fixtures shared by the runner's tests.

Integration tests get a fresh PostgreSQL database per test run (migrated by the real
migrations), randomly named RabbitMQ exchanges and queues, real wrapper processes around test
actions laid out as the local builder's artifacts (``actions.py``), and the real
authorization service as a process. With ``CI=true`` an unreachable PostgreSQL or RabbitMQ
fails the tests instead of skipping them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from oryx_runner.config import SERVICE_ROOT
from oryx_runner.infrastructure.database.engine import (
    async_url,
    create_engine,
    session_factory,
    upgrade,
)

from .actions import make_artifacts

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
        if "/runner/tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def new_database(prefix: str) -> str:
    """A fresh database, migrated to head; its URL."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_async_engine(async_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        unreachable("PostgreSQL", exc)
    finally:
        await admin.dispose()
    url = async_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url, pool_size=1)
    await upgrade(engine, SERVICE_ROOT / "migrations")
    await engine.dispose()
    return url


async def drop_database(url: str) -> None:
    name = async_url(url).database
    admin = create_async_engine(async_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A fresh database for this test run, migrated to head; dropped at the end."""
    url = await new_database("oryx_runner_test")
    yield url
    await drop_database(url)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def sessions(engine: AsyncEngine):  # type: ignore[no-untyped-def]
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


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The test actions as local artifacts: (artifacts folder, refs by action name)."""
    root = tmp_path_factory.mktemp("artifacts")
    return root, make_artifacts(root)


# the authorization service, as a real process ---------------------------------------------


@dataclass
class AuthorizationServer:
    """A running authorization service, with helpers to set up people and projects."""

    url: str
    admin_password: str
    database_url: str = ""

    async def expire_tokens_of(self, username: str) -> None:
        """Make every token of ``username`` expired (as if a day had passed)."""
        engine = create_async_engine(self.database_url)
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE access_tokens SET expires_at = now() - interval '1 hour' "
                    "WHERE user_id = (SELECT id FROM users WHERE username = :u)"
                ),
                {"u": username},
            )
        await engine.dispose()

    async def logout(self, token: str) -> None:
        async with httpx.AsyncClient(base_url=self.url) as client:
            response = await client.post(
                "/authorization/logout", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code in (200, 204), response.text

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


@pytest.fixture(scope="session")
async def authorization_server() -> AsyncIterator[AuthorizationServer]:
    """``python -m oryx_authorization`` on a free port and a database of its own."""
    name = f"oryx_authorization_for_runner_{secrets.token_hex(4)}"
    url = async_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    port = free_port()
    password = "admin-password-for-runner-tests"
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
        yield AuthorizationServer(url=base, admin_password=password, database_url=url)
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
