"""Assembling and starting the service: settings -> container -> app with its lifespan."""

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from oryx_runner.application.deployments import Deployments
from oryx_runner.config import Settings
from oryx_runner.container import Container
from oryx_runner.infrastructure.api.app import create_app
from oryx_runner.infrastructure.database.embedded import (
    EmbeddedPostgres,
    start_embedded_postgres,
)
from oryx_runner.infrastructure.database.engine import async_url, ensure_database, upgrade
from oryx_runner.infrastructure.filestore.local import LocalFolderFilestore, local_files_router
from oryx_runner.infrastructure.messaging.consumer import InboxConsumer
from oryx_runner.infrastructure.messaging.handlers import Handlers
from oryx_runner.infrastructure.security.clock import Uuid7Generator

log = logging.getLogger("oryx_runner")

DATABASE_NAME = "oryx_runner"


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
    artifacts_dir: Path
    site_state_dir: Path
    embedded: EmbeddedPostgres | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _secret_key(settings: Settings, data_dir: Path) -> str:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = data_dir / "runner-secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
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
        artifacts_dir=settings.artifacts_dir or data_dir / "artifacts",
        site_state_dir=settings.site_state_dir or data_dir / "local-site",
        embedded=embedded,
    )


def build_container(
    settings: Settings, resolved: Resolved, *, keep_timings: bool = False
) -> Container:
    container = Container()
    public_url = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    values = settings.model_dump()
    for secret in ("s3_access_key", "s3_secret_key", "secret_key"):
        value = getattr(settings, secret)
        values[secret] = value.get_secret_value() if value is not None else None
    values.update(
        {
            "database_url": resolved.database_url,
            "broker": "rabbitmq" if settings.broker_url else "inprocess",
            "filestore": "s3" if settings.s3_endpoint else "local",
            "filestore_dir": resolved.filestore_dir,
            "filestore_url": f"{public_url}/runner",
            "signing_key": hashlib.sha256(b"filestore:" + resolved.secret_key.encode()).digest(),
            "artifacts_dir": resolved.artifacts_dir,
            "site_state_dir": resolved.site_state_dir,
            "runner_id": Uuid7Generator().new(),
            "keep_timings": keep_timings,
        }
    )
    container.config.from_dict(values)
    return container


@dataclass
class Running:
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


async def start(container: Container, settings: Settings) -> Running:
    """Migrate, then start the filestore, broker, presence, site, consumers, relay, engine,
    recovery and the deployment reconciler."""
    await ensure_database(container.config.database_url())
    await upgrade(container.engine(), settings.migrations_dir)
    filestore = container.filestore()
    if hasattr(filestore, "start"):
        await filestore.start()
    broker = container.broker()
    await broker.start()
    await broker.declare_exchange(settings.exchange)
    signals = container.signals()
    engine = container.executor()
    deploy_wake = asyncio.Event()
    signals.on_work(engine.wake)
    signals.on_cancel(engine.cancel_run)
    signals.on_deploy(deploy_wake.set)
    signals.on_deployed(container.http_api().forget)
    signals.on_api_keys(container.access().forget)
    await container.presence().start()
    await container.site().start()
    handlers = Handlers(
        uow=lambda session: container.uow(session=session),
        orders=container.orders(),
        filestore=filestore,
        clock=container.clock(),
    )
    for sub in handlers.subscriptions(
        prefix=settings.queue_prefix,
        studio_exchange=settings.studio_exchange,
        authorization_exchange=settings.authorization_exchange,
    ):
        consumer = InboxConsumer(sub.queue, container.sessions(), sub.handler)
        await broker.consume(
            queue=sub.queue,
            exchange=sub.exchange,
            routing_keys=list(sub.routing_keys),
            handler=consumer,
        )
    running = Running()
    relay = container.relay()
    running.tasks.append(asyncio.create_task(relay.run(), name="runner outbox relay"))
    deployments = container.deployments()

    async def reconcile_all() -> None:
        while await deployments.reconcile():
            pass

    running.tasks.append(
        asyncio.create_task(
            _loop("deployments", reconcile_all, wake=deploy_wake, every=5.0, stop=running.stop),
            name="runner deployments",
        )
    )
    triggers = container.trigger_supervisor()
    triggers_wake = asyncio.Event()
    signals.on_deployed(lambda _project_id: triggers_wake.set())
    running.tasks.append(
        asyncio.create_task(
            _loop(
                "triggers",
                triggers.reconcile,
                wake=triggers_wake,
                every=settings.trigger_check_seconds,
                stop=running.stop,
            ),
            name="runner triggers",
        )
    )
    running.tasks.append(
        asyncio.create_task(_warm_up(deployments), name="runner warm-up of deployed actions")
    )
    recovery = container.recovery()

    async def recover() -> None:
        if await recovery.sweep():
            engine.wake()

    running.tasks.append(
        asyncio.create_task(
            _loop(
                "recovery", recover, wake=None, every=settings.recovery_seconds, stop=running.stop
            ),
            name="runner recovery",
        )
    )
    engine.start()
    log.info("runner %s started", container.config.runner_id())
    return running


async def _warm_up(deployments: Deployments) -> None:
    try:
        started = await deployments.warm_up()
        if started:
            log.info("deployed actions started again: %d versions", started)
    except Exception:
        log.warning(
            "starting the deployed actions again failed; they start on first use", exc_info=True
        )


async def _loop(
    name: str,
    step: Callable[[], Awaitable[None]],
    *,
    wake: asyncio.Event | None,
    every: float,
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        if wake is not None:
            wake.clear()
        try:
            await step()
        except Exception:
            log.warning("%s: a pass failed; trying again", name, exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for((wake or stop).wait(), timeout=every)


async def stop(container: Container, running: Running) -> None:
    running.stop.set()
    await container.executor().stop()
    container.relay().stop()
    for task in running.tasks:
        task.cancel()
    await asyncio.gather(*running.tasks, return_exceptions=True)
    await container.trigger_supervisor().close()
    await container.site().close()
    await container.broker().close()
    await container.presence().close()
    await container.authorizer().close()
    await container.engine().dispose()


def build_app(settings: Settings, resolved: Resolved) -> FastAPI:
    container = build_container(settings, resolved)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            running = await start(container, settings)
            try:
                yield
            finally:
                await stop(container, running)
        finally:
            # Here, not atexit: uvicorn re-raises SIGTERM/SIGINT after shutdown.
            if resolved.embedded is not None:
                resolved.embedded.stop()

    return make_app(container, lifespan=lifespan)


def make_app(container: Container, *, lifespan: Any = None) -> FastAPI:
    filestore = container.filestore()
    files = local_files_router(filestore) if isinstance(filestore, LocalFolderFilestore) else None
    app = create_app(container.use_cases(), lifespan=lifespan, files_router=files)
    app.state.container = container
    return app
