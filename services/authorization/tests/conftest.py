"""Fixtures shared by the authorization service's tests.

Integration tests get a fresh PostgreSQL database per test run (migrated by the real
migrations, emptied between tests) and randomly named RabbitMQ exchanges and queues.
With ``CI=true`` an unreachable PostgreSQL or RabbitMQ fails the tests instead of skipping them.
"""

import asyncio
import os
import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from oryx_authorization.config import SERVICE_ROOT
from oryx_authorization.infrastructure.database.engine import (
    async_url,
    create_engine,
    session_factory,
    upgrade,
)
from oryx_authorization.infrastructure.database.tables import metadata

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
    name = f"oryx_authorization_test_{secrets.token_hex(4)}"
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
