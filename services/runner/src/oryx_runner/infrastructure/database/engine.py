"""Engines and databases: URL normalisation, database creation, migrations at start."""

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import make_url, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

log = logging.getLogger(__name__)

MIGRATION_LOCK_ID = 0x0A7A_0001
"""pg_advisory lock key: replicas starting together apply migrations one at a time."""


def async_url(url: str | URL) -> URL:
    """Accept ``postgresql://`` and ``postgres://`` URLs and use the asyncpg driver."""
    parsed = make_url(str(url)) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    if parsed.drivername != "postgresql+asyncpg":
        raise ValueError(f"only PostgreSQL URLs are supported, got {parsed.drivername!r}")
    return parsed


def create_engine(url: str | URL, *, pool_size: int = 10, origin: str = "") -> AsyncEngine:
    """``origin``: this runner's id, set on every connection as ``oryx.origin`` (the
    notification triggers name the writer with it, so that a runner skips its own).

    No pre-ping: a connection found dead fails its transaction, which the engine retries
    (``StorageUnavailable``); a ping would cost a round trip on every checkout."""
    settings = {"oryx.origin": origin} if origin else {}
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=10,
        pool_pre_ping=False,
        connect_args={"server_settings": settings},
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker:  # type: ignore[type-arg]
    return async_sessionmaker(engine, expire_on_commit=False)


async def ensure_database(url: str | URL) -> None:
    """Create the database named in ``url`` if it does not exist yet."""
    target = async_url(url)
    name = target.database
    if not name:
        raise ValueError("the database URL names no database")
    admin = create_async_engine(
        target.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=None
    )
    try:
        async with admin.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not exists:
                log.info("creating database %s", name)
                quoted = name.replace('"', '""')
                await conn.execute(text(f'CREATE DATABASE "{quoted}"'))
    finally:
        await admin.dispose()


def _alembic_config(migrations_dir: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    return cfg


async def upgrade(engine: AsyncEngine, migrations_dir: Path) -> None:
    """Apply every migration up to head, holding an advisory lock against other replicas."""

    def run(connection: Connection) -> None:
        cfg = _alembic_config(migrations_dir)
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")

    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        await conn.run_sync(run)
