"""The service on the in-process broker (the embedded mode's path), with a fake builder:
requests and cancels in, BuildStarted and BuildFinished out, and the acknowledgement rules."""

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dependency_injector import providers
from google.protobuf.message import Message

from oryx_action_builder.config import Settings
from oryx_action_builder.domain.events import BuildFinished, Event
from oryx_action_builder.infrastructure.messaging import routing
from oryx_action_builder.infrastructure.messaging.broker import ReceivedMessage
from oryx_action_builder.infrastructure.messaging.generated.action_builder.v1 import (
    events_pb2 as builder_pb2,
)
from oryx_action_builder.infrastructure.messaging.generated.repository.v1 import (
    events_pb2 as repository_pb2,
)
from oryx_action_builder.infrastructure.messaging.inprocess import InProcessBroker
from oryx_action_builder.infrastructure.messaging.publisher import BrokerEventPublisher
from oryx_action_builder.service import BuilderService, build_container, topology

from ...conftest import eventually  # type: ignore[import-not-found]
from ...fakes import FakeBuilder, InMemorySourceStore  # type: ignore[import-not-found]

SOURCES = b"archive bytes"
SHA = hashlib.sha256(SOURCES).hexdigest()
OUTCOME = {v: k for k, v in builder_pb2.BuildFinished.Outcome.items()}


@dataclass
class Harness:
    broker: InProcessBroker
    service: BuilderService
    builder: FakeBuilder
    seen: list[tuple[str, Message]] = field(default_factory=list)

    async def request(self, build_id: str) -> None:
        message = repository_pb2.BuildRequested(
            build_id=build_id,
            action_id=f"action-{build_id}",
            source_archive_key="sources/a.tar.gz",
            source_sha256=SHA,
        )
        await self._send(routing.BUILD_REQUESTED, message, f"{build_id}.requested")

    async def cancel(self, build_id: str) -> None:
        message = repository_pb2.BuildCancelled(build_id=build_id)
        await self._send(routing.BUILD_CANCELLED, message, f"{build_id}.cancelled")

    async def _send(self, key: str, message: Message, message_id: str) -> None:
        await self.broker.publish(
            exchange=self.service.topology.repository_exchange,
            routing_key=key,
            message_id=message_id,
            message_type=message.DESCRIPTOR.full_name,
            body=message.SerializeToString(),
        )

    def story(self) -> list[str]:
        """What was published, as "<build id> started" or "<build id> <outcome>"."""
        lines = []
        for kind, message in self.seen:
            if kind == "BuildStarted":
                lines.append(f"{message.build_id} started")  # type: ignore[attr-defined]
            else:
                outcome = OUTCOME[message.outcome].lower()  # type: ignore[attr-defined]
                lines.append(f"{message.build_id} {outcome}")  # type: ignore[attr-defined]
        return lines


class FlakyPublisher(BrokerEventPublisher):
    """Fails the first BuildFinished, as a broker that does not confirm it."""

    failed = False

    async def publish(self, event: Event) -> None:
        if isinstance(event, BuildFinished) and not self.failed:
            self.failed = True
            raise ConnectionError("no confirm")
        await super().publish(event)


async def start(tmp_path: Path, *, flaky: bool = False) -> Harness:
    settings = Settings(artifacts_dir=tmp_path / "artifacts", filestore_dir=tmp_path / "fs")
    container = build_container(settings)
    broker = InProcessBroker(retry_delay=0.0, shutdown_grace=2.0)
    builder = FakeBuilder(hold=True)
    container.broker.override(providers.Object(broker))
    container.builder.override(providers.Object(builder))
    container.sources.override(providers.Object(InMemorySourceStore({"sources/a.tar.gz": SOURCES})))
    if flaky:
        container.publisher.override(
            providers.Object(FlakyPublisher(broker, exchange=settings.exchange))
        )
    harness = Harness(
        broker=broker, service=BuilderService(container, topology(settings)), builder=builder
    )
    await harness.service.start()

    async def observe(received: ReceivedMessage) -> None:
        kind = received.message_type.rsplit(".", 1)[-1]
        cls = getattr(builder_pb2, kind)
        harness.seen.append((kind, cls.FromString(received.body)))

    await broker.consume(
        queue="observer",
        exchange=settings.exchange,
        routing_keys=["action_builder.build.*.v1"],
        handler=observe,
    )
    return harness


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = await start(tmp_path)
    yield h
    await h.service.stop()


async def test_a_request_is_built_reported_and_acknowledged(harness: Harness) -> None:
    harness.builder.hold = False

    await harness.request("b1")
    await eventually(lambda: len(harness.seen) == 2)

    assert harness.story() == ["b1 started", "b1 succeeded"]
    finished = harness.seen[-1][1]
    assert finished.artifact_ref == f"fake:{SHA[:8]}"  # type: ignore[attr-defined]
    await harness.broker.join()
    assert harness.broker.pending(harness.service.topology.requests_queue) == 0


async def test_cancels_stop_the_running_build_and_drop_a_queued_one(harness: Harness) -> None:
    queue = harness.service.topology.requests_queue
    await harness.request("b1")
    await harness.builder.started.wait()
    await harness.request("b2")  # waits: one build at a time

    await harness.cancel("b2")
    await asyncio.sleep(0.05)
    assert harness.broker.pending(queue) == 2  # both requests still unacknowledged
    await harness.cancel("b1")
    await eventually(lambda: len(harness.seen) == 3)

    assert harness.story() == ["b1 started", "b1 cancelled", "b2 cancelled"]
    assert harness.builder.cancelled == ["b1"]
    assert [build_id for build_id, _ in harness.builder.calls] == ["b1"]
    await harness.broker.join()
    assert harness.broker.pending(queue) == 0


async def test_an_unconfirmed_report_brings_the_request_again(tmp_path: Path) -> None:
    h = await start(tmp_path, flaky=True)
    h.builder.hold = False
    try:
        await h.request("b1")
        await eventually(lambda: len(h.seen) == 3)

        assert h.story() == ["b1 started", "b1 started", "b1 succeeded"]
        assert len(h.builder.calls) == 1  # the redelivery found the artifact built
    finally:
        await h.service.stop()


async def test_an_undecodable_request_is_dead_lettered(harness: Harness) -> None:
    await harness.broker.publish(
        exchange=harness.service.topology.repository_exchange,
        routing_key=routing.BUILD_REQUESTED,
        message_id="m1",
        message_type=routing.BUILD_REQUESTED_TYPE,
        body=b"\xff\xff\xff",
    )
    await harness.broker.join()

    [dead] = harness.broker.dead_letters(harness.service.topology.requests_queue)
    assert dead.message_id == "m1"
    assert harness.seen == []


async def test_stopping_mid_build_leaves_the_request_queued_unreported(tmp_path: Path) -> None:
    h = await start(tmp_path)
    await h.request("b1")
    await h.builder.started.wait()

    await h.service.stop()

    assert h.story() == ["b1 started"]
    assert h.builder.cancelled == ["b1"]
    assert h.broker.pending(h.service.topology.requests_queue) == 1
