"""The outbox relay against the real PostgreSQL, with a broker that fails on demand."""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oryx_authorization.infrastructure.database.tables import outbox
from oryx_authorization.infrastructure.messaging.relay import OutboxRelay

EXCHANGE = "oryx.test.relay"

Sessions = async_sessionmaker[AsyncSession]
OutboxWriter = Callable[..., Awaitable[list[str]]]
Eventually = Callable[..., Awaitable[None]]


class FlakyBroker:
    """Records what is published; fails the publishes of the ids in ``failing``."""

    def __init__(self) -> None:
        self.published: list[str] = []
        self.failing: set[str] = set()

    async def publish(
        self,
        *,
        exchange: str,
        routing_key: str,
        message_id: str,
        message_type: str,
        body: bytes,
        headers: Mapping[str, Any] | None = None,
    ) -> None:
        if message_id in self.failing:
            raise ConnectionError("connection lost")
        self.published.append(message_id)


async def published(broker: FlakyBroker, ids: list[str]) -> bool:
    return broker.published == ids


async def rows(sessions: Sessions) -> dict[str, Row[Any]]:
    async with sessions() as session:
        result = await session.execute(select(outbox).order_by(outbox.c.created_at))
        return {row.id: row for row in result}


async def test_publishes_oldest_first_and_marks_rows(
    sessions: Sessions, write_outbox: OutboxWriter
) -> None:
    ids = await write_outbox(EXCHANGE, 5)
    broker = FlakyBroker()
    relay = OutboxRelay(sessions, broker, batch_size=3)

    assert await relay.publish_pending() == 3
    assert await relay.publish_pending() == 2
    assert await relay.publish_pending() == 0

    assert broker.published == ids
    stored = await rows(sessions)
    assert all(row.published_at is not None for row in stored.values())
    assert all(row.attempts == 1 and row.last_error is None for row in stored.values())


async def test_a_failed_publish_is_recorded_and_stops_the_batch(
    sessions: Sessions, write_outbox: OutboxWriter
) -> None:
    ids = await write_outbox(EXCHANGE, 5)
    broker = FlakyBroker()
    broker.failing = {ids[2]}
    relay = OutboxRelay(sessions, broker)

    assert await relay.publish_pending() == 2

    stored = await rows(sessions)
    assert [stored[i].published_at is not None for i in ids] == [True, True, False, False, False]
    assert stored[ids[2]].attempts == 1
    assert "connection lost" in stored[ids[2]].last_error
    assert stored[ids[3]].attempts == 0

    broker.failing.clear()
    assert await relay.publish_pending() == 3
    assert broker.published == ids  # order kept across the failure
    assert (await rows(sessions))[ids[2]].attempts == 2


async def test_purges_rows_published_before_the_retention(
    sessions: Sessions, write_outbox: OutboxWriter
) -> None:
    old, recent, unpublished = await write_outbox(EXCHANGE, 3)
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        for message_id, at in ((old, now - timedelta(days=8)), (recent, now - timedelta(days=6))):
            await session.execute(
                update(outbox).where(outbox.c.id == message_id).values(published_at=at)
            )
    relay = OutboxRelay(sessions, FlakyBroker(), retention=timedelta(days=7))

    assert await relay.purge_published() == 1
    assert set(await rows(sessions)) == {recent, unpublished}


async def test_run_wakes_on_notify_and_stops(
    sessions: Sessions, write_outbox: OutboxWriter, eventually: Eventually
) -> None:
    broker = FlakyBroker()
    relay = OutboxRelay(sessions, broker, poll_seconds=60)
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0.1)  # the first (empty) batch is done; now it sleeps for a minute

    [message_id] = await write_outbox(EXCHANGE, 1)
    relay.notify()
    await eventually(lambda: published(broker, [message_id]), within=1)

    relay.stop()
    async with asyncio.timeout(5):
        await task


async def test_run_backs_off_and_recovers_from_publish_failures(
    sessions: Sessions, write_outbox: OutboxWriter, eventually: Eventually
) -> None:
    [message_id] = await write_outbox(EXCHANGE, 1)
    broker = FlakyBroker()
    broker.failing = {message_id}
    relay = OutboxRelay(sessions, broker, poll_seconds=0.05, max_backoff_seconds=0.2)
    task = asyncio.create_task(relay.run())

    await asyncio.sleep(0.5)
    attempts = (await rows(sessions))[message_id].attempts
    assert 2 <= attempts <= 6  # retried, with growing pauses, not in a hot loop

    broker.failing.clear()
    await eventually(lambda: published(broker, [message_id]), within=5)
    relay.stop()
    async with asyncio.timeout(5):
        await task
