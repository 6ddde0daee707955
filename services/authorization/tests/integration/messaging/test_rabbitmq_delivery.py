"""Outbox -> relay -> RabbitMQ -> inbox consumer, end to end, including the failures."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from google.protobuf.message import Message
from sqlalchemy import Executable, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oryx_authorization.infrastructure.database.tables import inbox, outbox
from oryx_authorization.infrastructure.messaging.broker import ReceivedMessage
from oryx_authorization.infrastructure.messaging.consumer import InboxConsumer
from oryx_authorization.infrastructure.messaging.generated.authorization.v1 import events_pb2
from oryx_authorization.infrastructure.messaging.rabbitmq import RabbitMqBroker
from oryx_authorization.infrastructure.messaging.relay import OutboxRelay

USER_DELETED = "oryx.authorization.v1.UserDeleted"

Sessions = async_sessionmaker[AsyncSession]
Brokers = Callable[..., Awaitable[RabbitMqBroker]]
OutboxWriter = Callable[..., Awaitable[list[str]]]
Eventually = Callable[..., Awaitable[None]]
DeadLetters = Callable[[str], Awaitable[list[AbstractIncomingMessage]]]
Topology = Any  # conftest.Topology (exchange, queue, dlq); conftest is not importable


async def count(sessions: Sessions, query: Executable) -> int:
    async with sessions() as session:
        return int(await session.scalar(query))


async def test_an_outbox_event_reaches_an_inbox_consumer(
    topology: Topology,
    sessions: Sessions,
    brokers: Brokers,
    write_outbox: OutboxWriter,
    eventually: Eventually,
) -> None:
    publisher, consuming = await brokers(), await brokers()  # two connections
    applied: list[tuple[Message, ReceivedMessage]] = []

    async def apply(session: AsyncSession, message: Message, received: ReceivedMessage) -> None:
        applied.append((message, received))

    await consuming.consume(
        queue=topology.queue,
        exchange=topology.exchange,
        routing_keys=["authorization.user.*.v1"],
        handler=InboxConsumer("test-consumer", sessions, apply),
    )
    [message_id] = await write_outbox(topology.exchange)
    relay = OutboxRelay(sessions, publisher)

    assert await relay.publish_pending() == 1
    assert await relay.publish_pending() == 0

    async def inbox_has_it() -> bool:
        return await count(sessions, select(func.count()).select_from(inbox)) == 1

    await eventually(inbox_has_it)
    [(message, received)] = applied
    assert isinstance(message, events_pb2.UserDeleted)
    assert message.user_id == "user-0"
    assert received.message_id == message_id
    assert received.message_type == USER_DELETED
    assert received.routing_key == "authorization.user.deleted.v1"
    assert (received.delivery_count, received.redelivered) == (1, False)
    async with sessions() as session:
        row = (await session.execute(select(outbox))).one()
        stored = (await session.execute(select(inbox))).one()
    assert row.published_at is not None
    assert (stored.consumer, stored.message_id) == ("test-consumer", message_id)


async def test_a_poison_message_is_dead_lettered_at_once(
    topology: Topology,
    sessions: Sessions,
    brokers: Brokers,
    dead_letters: DeadLetters,
    eventually: Eventually,
) -> None:
    broker = await brokers(max_deliveries=3)
    applied: list[ReceivedMessage] = []

    async def apply(session: AsyncSession, message: Message, received: ReceivedMessage) -> None:
        applied.append(received)

    await broker.consume(
        queue=topology.queue,
        exchange=topology.exchange,
        routing_keys=["#"],
        handler=InboxConsumer("poison-test", sessions, apply),
    )
    for message_id, message_type, body in [
        ("unknown-type", "oryx.authorization.v1.Nonsense", b""),
        ("garbage-payload", USER_DELETED, b"\xff\xff\xff"),
    ]:
        await broker.publish(
            exchange=topology.exchange,
            routing_key="authorization.user.deleted.v1",
            message_id=message_id,
            message_type=message_type,
            body=body,
        )

    dead: list[AbstractIncomingMessage] = []

    async def both_dead() -> bool:
        dead.extend(await dead_letters(topology.dlq))
        return len(dead) == 2

    await eventually(both_dead)
    assert sorted(str(m.message_id) for m in dead) == ["garbage-payload", "unknown-type"]
    assert {m.headers["x-first-death-reason"] for m in dead} == {"rejected"}
    assert applied == []
    assert await count(sessions, select(func.count()).select_from(inbox)) == 0


async def test_a_failing_handler_ends_in_the_dlq_after_max_deliveries(
    topology: Topology, brokers: Brokers, dead_letters: DeadLetters, eventually: Eventually
) -> None:
    broker = await brokers(max_deliveries=3)
    deliveries: list[int] = []

    async def always_fails(received: ReceivedMessage) -> None:
        deliveries.append(received.delivery_count)
        raise RuntimeError("the database is down")

    await broker.consume(
        queue=topology.queue, exchange=topology.exchange, routing_keys=["#"], handler=always_fails
    )
    await broker.publish(
        exchange=topology.exchange,
        routing_key="authorization.user.deleted.v1",
        message_id="doomed",
        message_type=USER_DELETED,
        body=b"",
    )

    dead: list[AbstractIncomingMessage] = []

    async def is_dead() -> bool:
        dead.extend(await dead_letters(topology.dlq))
        return bool(dead)

    await eventually(is_dead)
    assert [m.message_id for m in dead] == ["doomed"]
    assert dead[0].headers["x-first-death-reason"] == "delivery_limit"
    assert deliveries == [1, 2, 3]


async def test_two_relays_publish_each_row_once(
    topology: Topology,
    sessions: Sessions,
    brokers: Brokers,
    write_outbox: OutboxWriter,
    eventually: Eventually,
) -> None:
    ids = await write_outbox(topology.exchange, 300)
    received: list[str] = []

    async def record(message: ReceivedMessage) -> None:
        received.append(message.message_id)

    consuming = await brokers()
    await consuming.consume(
        queue=topology.queue, exchange=topology.exchange, routing_keys=["#"], handler=record
    )
    relays = [OutboxRelay(sessions, await brokers(), batch_size=10) for _ in range(2)]

    async def drain(relay: OutboxRelay) -> int:
        total = 0
        while published := await relay.publish_pending():
            total += published
        return total

    totals = await asyncio.gather(*(drain(relay) for relay in relays))

    assert sum(totals) == 300
    assert all(total > 0 for total in totals)  # both took part

    async def all_received() -> bool:
        return len(received) >= 300

    await eventually(all_received)
    await asyncio.sleep(0.2)  # room for a duplicate to show
    assert sorted(received) == sorted(ids)


async def test_a_declared_queue_waits_for_its_consumer_who_takes_one_at_a_time_in_order(
    topology: Topology, brokers: Brokers, eventually: Eventually
) -> None:
    broker = await brokers()
    await broker.declare_queue(
        queue=topology.queue, exchange=topology.exchange, routing_keys=["authorization.#"]
    )
    for i in range(30):
        await broker.publish(
            exchange=topology.exchange,
            routing_key="authorization.user.deleted.v1",
            message_id=str(i),
            message_type=USER_DELETED,
            body=b"",
        )
    order: list[str] = []
    running = most_running = 0

    async def slow(received: ReceivedMessage) -> None:
        nonlocal running, most_running
        running += 1
        most_running = max(most_running, running)
        await asyncio.sleep(0.001)
        order.append(received.message_id)
        running -= 1

    await broker.consume(
        queue=topology.queue,
        exchange=topology.exchange,
        routing_keys=["authorization.#"],
        handler=slow,
        prefetch=10,
    )

    async def all_handled() -> bool:
        return len(order) == 30

    await eventually(all_handled)
    assert order == [str(i) for i in range(30)]
    assert most_running == 1


async def test_close_lets_the_handler_in_progress_finish_and_requeues_the_rest(
    topology: Topology, brokers: Brokers, eventually: Eventually
) -> None:
    first = await brokers()
    started = asyncio.Event()
    handled: list[str] = []

    async def slow(received: ReceivedMessage) -> None:
        started.set()
        await asyncio.sleep(0.1)
        handled.append(received.message_id)

    await first.consume(
        queue=topology.queue, exchange=topology.exchange, routing_keys=["#"], handler=slow
    )
    for i in range(5):
        await first.publish(
            exchange=topology.exchange,
            routing_key="k",
            message_id=str(i),
            message_type=USER_DELETED,
            body=b"",
        )
    await started.wait()
    await first.close()
    assert handled == ["0"]

    second = await brokers()
    await second.consume(
        queue=topology.queue, exchange=topology.exchange, routing_keys=["#"], handler=slow
    )

    async def rest_handled() -> bool:
        return len(handled) >= 5

    await eventually(rest_handled)
    await asyncio.sleep(0.2)  # room for an unexpected redelivery of "0"
    assert handled == ["0", "1", "2", "3", "4"]
