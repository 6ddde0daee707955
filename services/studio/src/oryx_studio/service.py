"""Assembling and starting the service: settings -> container -> app with its lifespan."""

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from oryx_studio.config import Settings
from oryx_studio.container import Container
from oryx_studio.infrastructure.api.app import create_app
from oryx_studio.infrastructure.database.embedded import EmbeddedPostgres, start_embedded_postgres
from oryx_studio.infrastructure.database.engine import async_url, ensure_database, upgrade
from oryx_studio.infrastructure.messaging.consumer import InboxConsumer
from oryx_studio.infrastructure.messaging.handlers import Handlers
from oryx_studio.infrastructure.security.secrets import FernetSecretBox

log = logging.getLogger("oryx_studio")

DATABASE_NAME = "oryx_studio"


class ConfigurationError(RuntimeError):
    """A setting is missing or wrong; the message says which and what to do."""


def default_data_dir() -> Path:
    try:
        import platformdirs

        return Path(platformdirs.user_data_dir("oryx"))
    except ImportError:
        return Path(os.path.expanduser("~/.local/share/oryx"))


@dataclass
class Resolved:
    """Settings with the embedded mode's defaults filled in."""

    database_url: str
    secret_key: str
    filestore_dir: Path
    embedded: EmbeddedPostgres | None = None


def _secret_key(settings: Settings, data_dir: Path) -> str:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    if settings.database_url:
        raise ConfigurationError(
            "ORYX_STUDIO_SECRET_KEY is required with an external database; make one with "
            "`python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`"
        )
    path = data_dir / "studio-secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(FernetSecretBox.generate_key())
    return path.read_text().strip()


def resolve(settings: Settings) -> Resolved:
    data_dir = settings.data_dir or default_data_dir()
    embedded = None
    if settings.database_url:
        database_url = settings.database_url
    else:
        embedded = start_embedded_postgres(data_dir)
        database_url = (
            async_url(embedded.url)
            .set(database=DATABASE_NAME)
            .render_as_string(hide_password=False)
        )
    return Resolved(
        database_url=database_url,
        secret_key=_secret_key(settings, data_dir),
        filestore_dir=settings.filestore_dir or data_dir / "filestore",
        embedded=embedded,
    )


def build_container(settings: Settings, resolved: Resolved) -> Container:
    container = Container()
    container.config.from_dict(
        {
            "database_url": resolved.database_url,
            "secret_key": resolved.secret_key,
            "broker": "rabbitmq" if settings.broker_url else "inprocess",
            "broker_url": settings.broker_url,
            "exchange": settings.exchange,
            "outbox_poll_seconds": settings.outbox_poll_seconds,
            "filestore": "s3" if settings.s3_endpoint else "local",
            "s3_endpoint": settings.s3_endpoint,
            "s3_access_key": settings.s3_access_key.get_secret_value()
            if settings.s3_access_key
            else None,
            "s3_secret_key": settings.s3_secret_key.get_secret_value()
            if settings.s3_secret_key
            else None,
            "s3_bucket": settings.s3_bucket,
            "s3_secure": settings.s3_secure,
            "s3_region": settings.s3_region,
            "filestore_dir": resolved.filestore_dir,
            "signing_key": hashlib.sha256(b"filestore:" + resolved.secret_key.encode()).digest(),
            "authorization_url": settings.authorization_url,
            "max_file_bytes": settings.max_file_bytes,
        }
    )
    return container


async def start(container: Container, settings: Settings) -> dict[str, Any]:
    """Create and migrate the database, install the built-in triggers, start the filestore,
    broker, consumers and relay."""
    await ensure_database(container.config.database_url())
    await upgrade(container.engine(), settings.migrations_dir)
    await container.library().install_builtins()
    filestore = container.filestore()
    if hasattr(filestore, "start"):
        await filestore.start()
    broker = container.broker()
    await broker.start()
    await broker.declare_exchange(settings.exchange)
    handlers = Handlers(
        uow=lambda session: container.uow(session=session),
        library=container.library(),
        reports=container.reports(),
        projects=container.projects(),
    )
    for sub in handlers.subscriptions(
        prefix=settings.queue_prefix,
        repository_exchange=settings.repository_exchange,
        runner_exchange=settings.runner_exchange,
        authorization_exchange=settings.authorization_exchange,
    ):
        consumer = InboxConsumer(sub.queue, container.sessions(), sub.handler)
        await broker.consume(
            queue=sub.queue,
            exchange=sub.exchange,
            routing_keys=list(sub.routing_keys),
            handler=consumer,
        )
    relay = container.relay()
    relay_task = asyncio.create_task(relay.run(), name="studio-outbox-relay")
    return {"relay_task": relay_task}


async def stop(container: Container, state: dict[str, Any]) -> None:
    container.relay().stop()
    task: asyncio.Task[None] = state["relay_task"]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    await container.broker().close()
    await container.authorizer().close()
    await container.engine().dispose()


def build_app(settings: Settings, resolved: Resolved) -> FastAPI:
    container = build_container(settings, resolved)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            state = await start(container, settings)
            try:
                yield
            finally:
                await stop(container, state)
        finally:
            # Here, not atexit: uvicorn re-raises SIGTERM/SIGINT after shutdown.
            if resolved.embedded is not None:
                resolved.embedded.stop()

    app = create_app(container.use_cases(), lifespan=lifespan)
    app.state.container = container
    return app
