"""Alembic environment: run with a connection handed over by the service, or from a URL."""

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from oryx_studio.infrastructure.database.engine import create_engine
from oryx_studio.infrastructure.database.tables import metadata

target_metadata = metadata


def run_with(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def run_from_url(url: str) -> None:
    engine = create_engine(url, pool_size=1)
    async with engine.begin() as conn:
        await conn.run_sync(run_with)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_with(connection)
else:
    url = os.environ.get("ORYX_STUDIO_DATABASE_URL")
    if not url:
        raise SystemExit("set ORYX_STUDIO_DATABASE_URL to run alembic by hand")
    asyncio.run(run_from_url(url))
