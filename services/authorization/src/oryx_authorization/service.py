"""Assembling and starting the service: settings -> container -> app with its lifespan."""

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from oryx_authorization.application.bootstrap import BootstrapResult, bootstrap
from oryx_authorization.config import AdminSettings, Settings
from oryx_authorization.container import Container
from oryx_authorization.infrastructure.api.app import create_app
from oryx_authorization.infrastructure.database.embedded import (
    EmbeddedPostgres,
    start_embedded_postgres,
)
from oryx_authorization.infrastructure.database.engine import async_url, ensure_database, upgrade
from oryx_authorization.infrastructure.security.tokens import generate_password

log = logging.getLogger("oryx_authorization")

DATABASE_NAME = "oryx_authorization"


def default_data_dir() -> Path:
    try:
        import platformdirs

        return Path(platformdirs.user_data_dir("oryx"))
    except ImportError:
        return Path(os.path.expanduser("~/.local/share/oryx"))


def resolve_database(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """The configured URL, or an embedded PostgreSQL (started now) and our database on it."""
    if settings.database_url:
        return settings.database_url, None
    server = start_embedded_postgres(settings.data_dir or default_data_dir())
    url = async_url(server.url).set(database=DATABASE_NAME).render_as_string(hide_password=False)
    return url, server


def build_container(settings: Settings, database_url: str) -> Container:
    container = Container()
    container.config.from_dict(
        {
            "database_url": database_url,
            "broker": "rabbitmq" if settings.broker_url else "inprocess",
            "broker_url": settings.broker_url,
            "exchange": settings.exchange,
            "outbox_poll_seconds": settings.outbox_poll_seconds,
            "login_token_lifetime": timedelta(hours=settings.login_token_hours),
        }
    )
    return container


def announce(result: BootstrapResult, settings: Settings) -> None:
    if not result.created:
        return
    if result.generated_password:
        print(
            "\n  First start: created the admin user and the 'default' project.\n"
            f"  username: {result.username}\n"
            f"  password: {result.generated_password}\n"
            "  This password is shown once; change it with PUT /authorization/me.\n",
            flush=True,
        )
    else:
        print(
            f"\n  First start: created the admin user {result.username!r} "
            "(password from ORYX_ADMIN_PASSWORD) and the 'default' project.\n",
            flush=True,
        )


async def start(container: Container, settings: Settings) -> dict[str, Any]:
    """Create and migrate the database, bootstrap, start the broker and the relay."""
    database_url = container.config.database_url()
    await ensure_database(database_url)
    await upgrade(container.engine(), settings.migrations_dir)
    admin = AdminSettings()
    result = await bootstrap(
        uow=lambda: container.uow(),
        hasher=container.hasher(),
        clock=container.clock(),
        ids=container.ids(),
        admin_password=admin.admin_password.get_secret_value() if admin.admin_password else None,
        generate_password=generate_password,
    )
    announce(result, settings)
    broker = container.broker()
    await broker.start()
    await broker.declare_exchange(settings.exchange)
    relay = container.relay()
    relay_task = asyncio.create_task(relay.run(), name="outbox-relay")
    return {"relay_task": relay_task}


async def stop(container: Container, state: dict[str, Any]) -> None:
    relay = container.relay()
    relay.stop()
    task: asyncio.Task[None] = state["relay_task"]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    await container.broker().close()
    await container.engine().dispose()


def build_app(
    settings: Settings, database_url: str, *, embedded: EmbeddedPostgres | None = None
) -> FastAPI:
    container = build_container(settings, database_url)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            state = await start(container, settings)
            try:
                yield
            finally:
                await stop(container, state)
        finally:
            # Here, not atexit: uvicorn re-raises SIGTERM/SIGINT after shutdown, which ends
            # the process before atexit handlers would run.
            if embedded is not None:
                embedded.stop()

    app = create_app(container.use_cases(), lifespan=lifespan)
    app.state.container = container
    return app
