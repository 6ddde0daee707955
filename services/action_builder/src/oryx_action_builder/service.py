"""Assembling and running the service: settings -> container -> consumers on the broker.

The builder has no HTTP API and no database. It consumes build requests and cancels and
publishes what happens to them; see ``infrastructure/messaging/consumers.py`` for the flow.
"""

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

from oryx_action_builder.config import Settings
from oryx_action_builder.container import Container
from oryx_action_builder.infrastructure.builders.wrapper import repository_wrapper
from oryx_action_builder.infrastructure.messaging.consumers import Topology, attach

log = logging.getLogger("oryx_action_builder")


def container_config(settings: Settings) -> dict[str, Any]:
    artifacts = settings.resolved_artifacts_dir()
    return {
        "broker": "rabbitmq" if settings.broker_url else "inprocess",
        "broker_url": settings.broker_url,
        "exchange": settings.exchange,
        "builder": settings.builder,
        "artifacts_dir": artifacts,
        "python": settings.python,
        "pip_python": settings.pip_python,
        "pip_timeout": settings.pip_timeout_seconds,
        "pip_network_timeout": settings.pip_network_timeout_seconds,
        "pip_index_url": settings.pip_index_url,
        "wrapper_path": settings.wrapper_path or repository_wrapper(),
        "wrapper_requirement": settings.wrapper_requirement,
        "wrapper_cache_dir": artifacts / ".wrapper",
        "base_image": settings.base_image,
        "log_tail_lines": settings.log_tail_lines,
        "max_source_bytes": settings.max_source_bytes,
        "filestore": "s3" if settings.s3_endpoint else "local",
        "filestore_dir": settings.resolved_filestore_dir(),
        "s3_endpoint": settings.s3_endpoint,
        "s3_access_key": settings.s3_access_key,
        "s3_secret_key": settings.s3_secret_key.get_secret_value(),
        "s3_bucket": settings.s3_bucket,
        "s3_region": settings.s3_region,
        "s3_secure": settings.s3_secure,
    }


def build_container(settings: Settings) -> Container:
    container = Container()
    container.config.from_dict(container_config(settings))
    return container


def topology(settings: Settings) -> Topology:
    return Topology(
        repository_exchange=settings.repository_exchange,
        exchange=settings.exchange,
        queue_prefix=settings.queue_prefix,
    )


class BuilderService:
    """Start: connect, declare, consume. Stop: abandon the running build (its request goes
    back to the queue, unacknowledged), then disconnect."""

    def __init__(self, container: Container, topology: Topology) -> None:
        self.container = container
        self.topology = topology

    async def start(self) -> None:
        artifacts: Path = self.container.config.artifacts_dir()
        await asyncio.to_thread(artifacts.mkdir, parents=True, exist_ok=True)
        broker = self.container.broker()
        await broker.start()
        await attach(
            broker,
            topology=self.topology,
            run_build=self.container.run_build(),
            cancel_build=self.container.cancel_build(),
        )
        log.info(
            "action builder (%s) consuming %s and %s; artifacts in %s",
            self.container.config.builder(),
            self.topology.requests_queue,
            self.topology.cancels_queue,
            artifacts,
        )

    async def stop(self) -> None:
        self.container.workshop().interrupt()
        await self.container.broker().close()


async def serve(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM."""
    service = BuilderService(build_container(settings), topology(settings))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stopping.set)
    await service.start()
    print(
        f"Oryx action builder ({settings.builder}) waiting for builds on "
        f"{'RabbitMQ' if settings.broker_url else 'the in-process broker'}",
        flush=True,
    )
    try:
        await stopping.wait()
    finally:
        log.info("stopping")
        await service.stop()
