"""The RabbitMQ adapter through network failures: a TCP proxy cuts its connections."""

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from google.protobuf.message import Message
from sqlalchemy import Executable, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from oryx_authorization.infrastructure.database.tables import inbox, outbox
from oryx_authorization.infrastructure.messaging.broker import ReceivedMessage
from oryx_authorization.infrastructure.messaging.consumer import InboxConsumer
from oryx_authorization.infrastructure.messaging.rabbitmq import RabbitMqBroker
from oryx_authorization.infrastructure.messaging.relay import OutboxRelay

Sessions = async_sessionmaker[AsyncSession]
Brokers = Callable[..., Awaitable[RabbitMqBroker]]
OutboxWriter = Callable[..., Awaitable[list[str]]]
Eventually = Callable[..., Awaitable[None]]
DeadLetters = Callable[[str], Awaitable[list[AbstractIncomingMessage]]]
Topology = Any  # conftest.Topology (exchange, queue, dlq); conftest is not importable
Proxy = tuple[Any, str]  # (conftest.TcpProxy, the broker URL through it)


async def count(sessions: Sessions, query: Executable) -> int:
    async with sessions() as session:
        return int(await session.scalar(query))


async def test_a_cut_connection_loses_and_duplicates_nothing(
    proxy: Proxy,
    topology: Topology,
    sessions: Sessions,
    engine: AsyncEngine,
    brokers: Brokers,
    write_outbox: OutboxWriter,
    eventually: Eventually,
    dead_letters: DeadLetters,
) -> None:
    tcp, url = proxy
    effects = f"test_effects_{secrets.token_hex(4)}"
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE TABLE {effects} (message_id text NOT NULL)"))

    async def apply(session: AsyncSession, message: Message, received: ReceivedMessage) -> None:
        # One row per application; no unique key, so a double application would show.
        await session.execute(
            text(f"INSERT INTO {effects} (message_id) VALUES (:id)"), {"id": received.message_id}
        )

    relay_task: asyncio.Task[None] | None = None
    try:
        publisher, consuming = await brokers(url), await brokers(url)
        await consuming.consume(
            queue=topology.queue,
            exchange=topology.exchange,
            routing_keys=["authorization.#"],
            handler=InboxConsumer("cut-test", sessions, apply),
            prefetch=20,
        )
        relay = OutboxRelay(sessions, publisher, poll_seconds=0.05, batch_size=10)
        relay_task = asyncio.create_task(relay.run())
        accepted_before = tcp.accepted

        async def applied_at_least(n: int) -> bool:
            return await count(sessions, text(f"SELECT count(*) FROM {effects}")) >= n

        ids = await write_outbox(topology.exchange, 100)
        relay.notify()
        await eventually(lambda: applied_at_least(30))
        ids += await write_outbox(topology.exchange, 100)
        relay.notify()
        await asyncio.sleep(0.02)  # mid-stream: the relay publishes, the consumer applies
        tcp.cut()

        async def all_published() -> bool:
            unpublished = select(func.count()).where(outbox.c.published_at.is_(None))
            return await count(sessions, unpublished) == 0

        await eventually(all_published, within=15)
        await eventually(lambda: applied_at_least(200), within=15)
        await asyncio.sleep(0.3)  # room for a late duplicate to show
        assert tcp.accepted >= accepted_before + 2  # both connections came back
        async with sessions() as session:
            applied = (await session.execute(text(f"SELECT message_id FROM {effects}"))).scalars()
            assert sorted(applied) == sorted(ids)  # each exactly once
            inboxed = await session.scalar(select(func.count()).select_from(inbox))
            assert inboxed == 200
        assert await dead_letters(topology.dlq) == []
    finally:
        if relay_task is not None:
            relay.stop()
            await relay_task
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE {effects}"))


async def test_reconnecting_declares_the_topology_again_and_resumes_consuming(
    proxy: Proxy,
    topology: Topology,
    brokers: Brokers,
    rabbitmq_url: str,
    eventually: Eventually,
) -> None:
    tcp, url = proxy
    consuming = await brokers(url)
    received: list[str] = []

    async def record(message: ReceivedMessage) -> None:
        received.append(message.message_id)

    await consuming.consume(
        queue=topology.queue, exchange=topology.exchange, routing_keys=["a.#"], handler=record
    )
    # The broker "restarts" and comes back without the topology (as a fresh node would).
    tcp.refusing = True
    tcp.cut()
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(topology.queue)
        await channel.queue_delete(topology.dlq)
        await channel.exchange_delete(topology.exchange)
    tcp.refusing = False

    publisher = await brokers()  # a direct connection: messages go out while the other is away

    async def delivered_again() -> bool:
        # Unroutable until the consumer has declared its queue again: keep publishing.
        await publisher.publish(
            exchange=topology.exchange,
            routing_key="a.b",
            message_id=f"m{len(received)}",
            message_type="test",
            body=b"",
        )
        return bool(received)

    await eventually(delivered_again, within=10)
