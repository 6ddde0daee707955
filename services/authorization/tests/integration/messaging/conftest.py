"""Fixtures of the messaging integration tests: topology names, brokers, a cuttable network."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from yarl import URL

from oryx_authorization.domain.events import UserDeleted
from oryx_authorization.infrastructure.database.tables import outbox
from oryx_authorization.infrastructure.messaging import routing
from oryx_authorization.infrastructure.messaging.broker import dead_letter_queue
from oryx_authorization.infrastructure.messaging.rabbitmq import RabbitMqBroker


@dataclass(frozen=True)
class Topology:
    exchange: str
    queue: str

    @property
    def dlq(self) -> str:
        return dead_letter_queue(self.queue)


@pytest.fixture
async def topology(rabbitmq_url: str, random_name: str) -> AsyncIterator[Topology]:
    """Random exchange and queue names; whatever the test declared is deleted afterwards."""
    names = Topology(exchange=random_name, queue=f"{random_name}.consumer")
    yield names
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        # Deleting what does not exist succeeds in RabbitMQ.
        await channel.queue_delete(names.queue)
        await channel.queue_delete(names.dlq)
        await channel.exchange_delete(names.exchange)


BrokerFactory = Callable[..., Awaitable[RabbitMqBroker]]


@pytest.fixture
async def brokers(rabbitmq_url: str) -> AsyncIterator[BrokerFactory]:
    """Start RabbitMqBrokers (each its own connection) tuned for tests; closed afterwards."""
    started: list[RabbitMqBroker] = []

    async def start(url: str = rabbitmq_url, **settings: object) -> RabbitMqBroker:
        settings = {
            "retry_delay": 0.0,
            "reconnect_interval": 0.2,
            "publish_timeout": 2.0,
            **settings,
        }
        broker = RabbitMqBroker(url, **settings)  # type: ignore[arg-type]
        await broker.start()
        started.append(broker)
        return broker

    yield start
    for broker in started:
        await broker.close()


class TcpProxy:
    """Forwards TCP connections to RabbitMQ; ``cut()`` drops them all, like a network failure."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.port = 0
        self.accepted = 0
        """How many connections the proxy has forwarded."""
        self.refusing = False
        """While True, new connections are dropped at once (the broker is "down")."""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        self.accepted += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, upstream_writer}
        await asyncio.gather(
            _pipe(reader, upstream_writer), _pipe(upstream_reader, writer), return_exceptions=True
        )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


@pytest.fixture
async def proxy(rabbitmq_url: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    """A proxy to RabbitMQ and the broker URL that goes through it."""
    target = URL(rabbitmq_url)
    tcp = TcpProxy(target.host or "127.0.0.1", target.port or 5672)
    await tcp.start()
    yield tcp, str(target.with_host("127.0.0.1").with_port(tcp.port))
    await tcp.close()


OutboxWriter = Callable[..., Awaitable[list[str]]]


@pytest.fixture
def write_outbox(sessions: async_sessionmaker[AsyncSession]) -> OutboxWriter:
    """Insert ``count`` UserDeleted events in the outbox, as the unit of work would."""

    async def write(exchange: str, count: int = 1) -> list[str]:
        ids = [str(uuid4()) for _ in range(count)]
        start = datetime.now(UTC)
        rows = []
        for i, message_id in enumerate(ids):
            now = start + timedelta(microseconds=i)  # distinct: the relay keeps this order
            event = UserDeleted(user_id=f"user-{i}", username=f"user{i}", occurred_at=now)
            message = routing.serialize(event)
            rows.append(
                {
                    "id": message_id,
                    "exchange": exchange,
                    "routing_key": message.routing_key,
                    "message_type": message.message_type,
                    "payload": message.payload,
                    "created_at": now,
                }
            )
        async with sessions() as session, session.begin():
            await session.execute(insert(outbox), rows)
        return ids

    return write


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {within} s")
        await asyncio.sleep(0.05)


@pytest.fixture
def eventually() -> Callable[..., Awaitable[None]]:
    """``await eventually(check, within=seconds)``: poll an async check until it is true."""
    return _eventually


@pytest.fixture
def dead_letters(rabbitmq_url: str) -> Callable[[str], Awaitable[list[AbstractIncomingMessage]]]:
    """``await dead_letters(dlq)``: take every message out of a dead-letter queue."""

    async def take(dlq: str) -> list[AbstractIncomingMessage]:
        taken = []
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.get_queue(dlq)
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                taken.append(message)
        return taken

    return take
