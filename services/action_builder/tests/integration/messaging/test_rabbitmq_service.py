"""The service over the real RabbitMQ, with the real local builder (and the tests' wrapper
wheel): BuildRequested published on the repository's exchange is built, BuildStarted and
BuildFinished arrive on the builder's exchange, and requests are acknowledged only after
their report. Exchanges and queues have random names and are deleted afterwards."""

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage
from dependency_injector import providers

from oryx_action_builder.config import Settings
from oryx_action_builder.domain.events import BuildFinished, Event
from oryx_action_builder.infrastructure.messaging import routing
from oryx_action_builder.infrastructure.messaging.broker import dead_letter_queue
from oryx_action_builder.infrastructure.messaging.generated.action_builder.v1 import (
    events_pb2 as builder_pb2,
)
from oryx_action_builder.infrastructure.messaging.generated.repository.v1 import (
    events_pb2 as repository_pb2,
)
from oryx_action_builder.infrastructure.messaging.publisher import BrokerEventPublisher
from oryx_action_builder.infrastructure.messaging.rabbitmq import RabbitMqBroker
from oryx_action_builder.service import BuilderService, build_container, topology

from ...conftest import (  # type: ignore[import-not-found]
    archive_of,
    eventually,
    slow_package_files,
)

OUTCOME = {v: k for k, v in builder_pb2.BuildFinished.Outcome.items()}


@dataclass
class Seen:
    kind: str
    message_id: str
    body: builder_pb2.BuildStarted | builder_pb2.BuildFinished

    def line(self) -> str:
        if isinstance(self.body, builder_pb2.BuildStarted):
            return f"{self.body.build_id} started"
        return f"{self.body.build_id} {OUTCOME[self.body.outcome].lower()}"


@dataclass
class Repository:
    """The test's side: stands for the repository service on RabbitMQ."""

    settings: Settings
    filestore: Path
    channel: aio_pika.abc.AbstractChannel
    seen: list[Seen] = field(default_factory=list)

    async def request(self, build_id: str, folder: Path) -> None:
        data, sha = archive_of(folder)
        key = f"sources/{build_id}.tar.gz"
        (self.filestore / key).parent.mkdir(parents=True, exist_ok=True)
        (self.filestore / key).write_bytes(data)
        message = repository_pb2.BuildRequested(
            build_id=build_id,
            action_id=f"action-{folder.name}",
            project_id="p1",
            action_name=folder.name,
            version="1.0",
            source_archive_key=key,
            source_sha256=sha,
            kind="processor",
        )
        await self._send(routing.BUILD_REQUESTED, message, f"{build_id}.requested")

    async def cancel(self, build_id: str) -> None:
        message = repository_pb2.BuildCancelled(build_id=build_id, action_id="a")
        await self._send(routing.BUILD_CANCELLED, message, f"{build_id}.cancelled")

    async def _send(self, key: str, message: object, message_id: str) -> None:
        exchange = await self.channel.get_exchange(self.settings.repository_exchange)
        await exchange.publish(
            aio_pika.Message(
                message.SerializeToString(),  # type: ignore[attr-defined]
                message_id=message_id,
                type=message.DESCRIPTOR.full_name,  # type: ignore[attr-defined]
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=key,
        )

    def story(self) -> list[str]:
        return [seen.line() for seen in self.seen]

    async def ready_requests(self) -> int:
        """Requests waiting in the builder's queue (acknowledged ones are gone)."""
        queue = await self.channel.declare_queue(
            topology(self.settings).requests_queue, passive=True
        )
        return queue.declaration_result.message_count or 0


@pytest.fixture
async def repository(
    rabbitmq_url: str, random_name: str, tmp_path: Path, fake_wrapper_wheel: Path
) -> AsyncIterator[Repository]:
    settings = Settings(
        broker_url=rabbitmq_url,
        exchange=f"{random_name}.action_builder",
        repository_exchange=f"{random_name}.repository",
        queue_prefix=random_name,
        artifacts_dir=tmp_path / "artifacts",
        filestore_dir=tmp_path / "filestore",
        wrapper_path=fake_wrapper_wheel,
        pip_timeout_seconds=60,
    )
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel()
    for name in (settings.exchange, settings.repository_exchange):
        await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
    observer = await channel.declare_queue(f"{random_name}.observer", exclusive=True)
    await observer.bind(settings.exchange, "action_builder.build.*.v1")
    repo = Repository(
        settings=settings, filestore=tmp_path / "filestore" / "objects", channel=channel
    )

    async def observe(message: AbstractIncomingMessage) -> None:
        async with message.process():
            kind = (message.type or "").rsplit(".", 1)[-1]
            body = getattr(builder_pb2, kind).FromString(message.body)
            repo.seen.append(Seen(kind=kind, message_id=message.message_id or "", body=body))

    await observer.consume(observe)
    yield repo
    names = topology(settings)
    for queue in (names.requests_queue, names.cancels_queue):
        await channel.queue_delete(queue)
        await channel.queue_delete(dead_letter_queue(queue))
    for name in (settings.exchange, settings.repository_exchange):
        await channel.exchange_delete(name)
    await connection.close()


Starter = Callable[..., Awaitable[BuilderService]]


@pytest.fixture
async def services(repository: Repository) -> AsyncIterator[Starter]:
    """``await start(flaky=False)``: the service on RabbitMQ; stopped afterwards."""
    started: list[BuilderService] = []

    async def start(*, flaky: bool = False) -> BuilderService:
        settings = repository.settings
        container = build_container(settings)
        broker = RabbitMqBroker(
            settings.broker_url or "", retry_delay=0.1, connection_name="oryx-test-builder"
        )
        container.broker.override(providers.Object(broker))
        if flaky:
            container.publisher.override(
                providers.Object(CrashAfterFinished(broker, exchange=settings.exchange))
            )
        service = BuilderService(container, topology(settings))
        await service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        with contextlib.suppress(Exception):
            await service.stop()


class CrashAfterFinished(BrokerEventPublisher):
    """Publishes the first BuildFinished, then fails as a process dying before its ack."""

    crashed = False

    async def publish(self, event: Event) -> None:
        await super().publish(event)
        if isinstance(event, BuildFinished) and not self.crashed:
            self.crashed = True
            raise RuntimeError("crashed after publishing, before acknowledging")


async def test_a_requested_build_is_built_reported_and_acknowledged(
    repository: Repository, services: Starter, make_action: Callable[..., Path]
) -> None:
    service = await services()

    await repository.request("b1", make_action("trivial"))
    await eventually(lambda: len(repository.seen) == 2, within=60)

    assert repository.story() == ["b1 started", "b1 succeeded"]
    started, finished = repository.seen
    assert (started.message_id, finished.message_id) == ("b1.started", "b1.finished")
    assert finished.body.artifact_ref.startswith("local:")  # type: ignore[union-attr]
    assert "oryx-wrapper" in finished.body.lock  # type: ignore[union-attr]
    await service.stop()
    assert await repository.ready_requests() == 0  # acknowledged, not merely delivered


async def test_cancels_reach_a_running_and_a_queued_build(
    repository: Repository,
    services: Starter,
    make_action: Callable[..., Path],
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "backend.pid"
    slow = make_action("slow", requirements="./slowpkg\n", files=slow_package_files(pid_file))
    service = await services()
    await repository.request("b1", slow)
    await repository.request("b2", make_action("trivial"))
    await eventually(pid_file.exists, within=30)  # b1's pip is busy; b2 waits in RabbitMQ

    await repository.cancel("b2")
    await repository.cancel("b1")
    await eventually(lambda: len(repository.seen) == 3, within=30)

    assert repository.story() == ["b1 started", "b1 cancelled", "b2 cancelled"]
    await service.stop()
    assert await repository.ready_requests() == 0


async def test_a_request_delivered_again_after_a_crash_is_reported_again_quickly(
    repository: Repository, services: Starter, make_action: Callable[..., Path]
) -> None:
    await services(flaky=True)

    await repository.request("b1", make_action("trivial"))
    await eventually(lambda: len(repository.seen) == 4, within=60)

    assert repository.story() == ["b1 started", "b1 succeeded", "b1 started", "b1 succeeded"]
    first, second = repository.seen[1].body, repository.seen[3].body
    assert first.artifact_ref == second.artifact_ref  # type: ignore[union-attr]
    assert second.log_tail.startswith("already built")  # type: ignore[union-attr]
    # Same message id both times: the repository's inbox drops the second.
    assert repository.seen[1].message_id == repository.seen[3].message_id == "b1.finished"
