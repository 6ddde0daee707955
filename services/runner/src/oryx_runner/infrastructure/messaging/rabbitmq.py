"""The RabbitMQ adapter of the broker port (aio-pika).

Topology, per the platform's conventions (docs: ARCHITECTURE.md, "How services talk"):

- one durable topic exchange per emitter;
- one durable *quorum* queue per consumer, bound to each of its routing keys, with
  ``x-delivery-limit`` so that RabbitMQ itself dead-letters a message delivered
  ``max_deliveries`` times; dead letters go through the default exchange to ``<queue>.dlq``
  (a quorum queue too), with the at-least-once dead-lettering strategy so none is lost on the way.

The connection is robust: after a broker restart or a cut connection, aio-pika reconnects,
re-declares the exchanges, queues and bindings and restarts the consumers. Messages in flight
at the cut are redelivered; consumers drop duplicates through their inbox.

Arguments of an existing queue can not change: a new ``max_deliveries`` needs the queue deleted
(or a policy), else RabbitMQ refuses the declaration (PRECONDITION_FAILED).
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aiormq.exceptions import ChannelInvalidStateError

from oryx_runner.infrastructure.messaging.broker import (
    DEFAULT_MAX_DELIVERIES,
    DEFAULT_PREFETCH,
    Handler,
    PoisonMessage,
    ReceivedMessage,
    dead_letter_queue,
)

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-protobuf"


class RabbitMqBroker:
    def __init__(
        self,
        url: str,
        *,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        retry_delay: float = 1.0,
        publish_timeout: float = 10.0,
        reconnect_interval: float = 2.0,
        shutdown_grace: float = 10.0,
        connection_name: str = "oryx-runner",
    ) -> None:
        """``retry_delay``: pause before a failed message is handed back to RabbitMQ, so a
        transient failure (database restart) does not burn its deliveries in a few ms.
        ``publish_timeout``: a publish waiting longer (e.g. for a reconnection) raises.
        ``shutdown_grace``: how long ``close()`` lets the handlers in progress finish."""
        if max_deliveries < 1:
            raise ValueError("max_deliveries must be at least 1")
        self._url = url
        self._max_deliveries = max_deliveries
        self._retry_delay = retry_delay
        self._publish_timeout = publish_timeout
        self._reconnect_interval = reconnect_interval
        self._shutdown_grace = shutdown_grace
        self._connection_name = connection_name
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        """Publishes (with confirms) and declares; each consumer has a channel of its own."""
        self._exchanges: dict[str, AbstractExchange] = {}
        self._consumers: list[_Consumer] = []
        self._closing = False

    @property
    def connection(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise RuntimeError("the broker is not started")
        return self._connection

    async def start(self) -> None:
        self._closing = False
        self._connection = await aio_pika.connect_robust(
            self._url,
            reconnect_interval=self._reconnect_interval,
            client_properties={"connection_name": self._connection_name},
        )
        self._channel = await self._connection.channel(publisher_confirms=True)

    async def close(self) -> None:
        """Stop taking messages, let the handlers in progress finish (within the grace
        period), then disconnect; the messages prefetched but not handled are requeued."""
        self._closing = True
        for consumer in self._consumers:
            with contextlib.suppress(Exception):  # a lost channel has no consumer left to cancel
                await consumer.queue.cancel(consumer.tag)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle(), timeout=self._shutdown_grace)
        if self._connection is not None:
            await self._connection.close()
        self._connection = None
        self._channel = None
        self._exchanges.clear()
        self._consumers.clear()

    async def declare_exchange(self, name: str) -> None:
        await self._exchange(name)

    async def declare_queue(
        self, *, queue: str, exchange: str, routing_keys: Sequence[str]
    ) -> None:
        await self._declare_queue(self._publish_channel(), queue, exchange, routing_keys)

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
        message = aio_pika.Message(
            body,
            message_id=message_id,
            type=message_type,
            content_type=CONTENT_TYPE,
            headers=dict(headers or {}),
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )

        async def confirmed() -> None:
            target = await self._exchange(exchange)
            # Confirms are on: this returns on the broker's ack, raises on its nack.
            # mandatory=False: an event nobody subscribes to is dropped, as designed.
            await target.publish(message, routing_key, mandatory=False)

        # A robust channel waits for the reconnection; bound that wait so the caller
        # (the outbox relay) records the failure and retries later.
        await asyncio.wait_for(confirmed(), timeout=self._publish_timeout)

    async def consume(
        self,
        *,
        queue: str,
        exchange: str,
        routing_keys: Sequence[str],
        handler: Handler,
        prefetch: int = DEFAULT_PREFETCH,
    ) -> None:
        channel = await self.connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=prefetch)
        amqp_queue = await self._declare_queue(channel, queue, exchange, routing_keys)
        # aio-pika runs each delivery in its own task; the lock keeps one handler call at a time,
        # in delivery order (asyncio locks are fair), as the port promises.
        lock = asyncio.Lock()

        async def on_message(message: AbstractIncomingMessage) -> None:
            async with lock:
                await self._deliver(queue, message, handler)

        tag = await amqp_queue.consume(on_message)
        self._consumers.append(_Consumer(queue=amqp_queue, tag=tag, lock=lock))

    async def _idle(self) -> None:
        for consumer in self._consumers:
            async with consumer.lock:  # deliveries queued before it return at once (closing)
                pass

    def _publish_channel(self) -> AbstractChannel:
        if self._channel is None:
            raise RuntimeError("the broker is not started")
        return self._channel

    async def _exchange(self, name: str) -> AbstractExchange:
        exchange = self._exchanges.get(name)
        if exchange is None:
            exchange = await self._publish_channel().declare_exchange(
                name, aio_pika.ExchangeType.TOPIC, durable=True
            )
            self._exchanges[name] = exchange
        return exchange

    async def _declare_queue(
        self, channel: AbstractChannel, queue: str, exchange: str, routing_keys: Sequence[str]
    ) -> AbstractQueue:
        # Declared on the given channel too, so that this channel restores it after a reconnection
        # before re-binding its queue.
        amqp_exchange = await channel.declare_exchange(
            exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        dlq = dead_letter_queue(queue)
        await channel.declare_queue(dlq, durable=True, arguments={"x-queue-type": "quorum"})
        amqp_queue = await channel.declare_queue(
            queue,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                # Deliveries beyond the first that RabbitMQ allows before dead-lettering.
                "x-delivery-limit": self._max_deliveries - 1,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": dlq,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",  # required by at-least-once dead-lettering
            },
        )
        for key in routing_keys:
            await amqp_queue.bind(amqp_exchange, key)
        return amqp_queue

    async def _deliver(
        self, queue: str, message: AbstractIncomingMessage, handler: Handler
    ) -> None:
        if self._closing or _channel_lost(message):
            # Left unacknowledged: RabbitMQ requeues it when the channel closes (or has
            # already requeued it, the channel being lost) and delivers it again.
            return
        received = _received(message)
        try:
            await handler(received)
        except PoisonMessage as exc:
            log.warning(
                "dead-lettering poison message %s from %s: %s", received.message_id, queue, exc
            )
            await _settle(message.reject(requeue=False), received)
        except Exception:
            log.warning(
                "handler of %s failed on message %s (delivery %d of %d)",
                queue,
                received.message_id,
                received.delivery_count,
                self._max_deliveries,
                exc_info=True,
            )
            await asyncio.sleep(self._retry_delay)
            await _settle(message.nack(requeue=True), received)
        else:
            await _settle(message.ack(), received)


@dataclass(frozen=True, kw_only=True)
class _Consumer:
    queue: AbstractQueue
    tag: str
    lock: asyncio.Lock


def _received(message: AbstractIncomingMessage) -> ReceivedMessage:
    headers = dict(message.headers or {})
    # Quorum queues count earlier deliveries in x-delivery-count (absent on the first one).
    previous = headers.get("x-delivery-count")
    count = previous + 1 if isinstance(previous, int) else (2 if message.redelivered else 1)
    return ReceivedMessage(
        message_id=message.message_id or "",
        routing_key=message.routing_key or "",
        message_type=message.type or "",
        body=message.body,
        headers=headers,
        redelivered=bool(message.redelivered),
        delivery_count=count,
    )


def _channel_lost(message: AbstractIncomingMessage) -> bool:
    try:
        return message.channel.is_closed
    except ChannelInvalidStateError:
        return True


async def _settle(outcome: Awaitable[None], received: ReceivedMessage) -> None:
    """Ack, nack or reject; when the channel is gone, RabbitMQ delivers the message again."""
    try:
        await outcome
    except Exception as exc:  # ChannelInvalidStateError, ConnectionError, AMQPError...
        log.info(
            "could not settle message %s (%r); it will be redelivered", received.message_id, exc
        )
